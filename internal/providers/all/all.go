// Package all links every provider into the binary: each provider package registers
// itself in its init. Add a blank import here when a provider lands.
package all

import (
	_ "github.com/accountbridge/accountbridge/internal/providers/gas"
	_ "github.com/accountbridge/accountbridge/internal/providers/onecloud"
	_ "github.com/accountbridge/accountbridge/internal/providers/sms"
	_ "github.com/accountbridge/accountbridge/internal/providers/telecom"
)
