// Command telecomfake serves the fake China Telecom upstream on loopback, for trying the
// provider by hand (`bridge once`, a full run) without the real service:
//
//	go run ./internal/providers/telecom/fake/cmd/telecomfake -addr 127.0.0.1:9031 -plan normal
//
// It prints an account snippet for config.yaml. The RSA key is kept in -key so the snippet
// stays valid across runs.
package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/accountbridge/accountbridge/internal/providers/telecom/fake"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9031", "listen address (loopback)")
	phone := flag.String("phone", "18912345678", "phone number")
	password := flag.String("password", "123456", "service password")
	plan := flag.String("plan", string(fake.PlanNormal), fmt.Sprintf("plan: %v", fake.Plans()))
	keyFile := flag.String("key", "telecomfake.key", "PEM file holding the fake's RSA private key (created if missing)")
	loginCode := flag.String("login-code", "", "answer every login with this code (1000, 3001, 3005, 3006, X10401)")
	flag.Parse()

	key, err := loadKey(*keyFile)
	if err != nil {
		log.Fatal(err)
	}
	f := fake.NewWithKey(key)
	f.AddAccount(*phone, *password, fake.Plan(*plan))
	f.SetLoginCode(*loginCode)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	pub := "      " + strings.ReplaceAll(strings.TrimSpace(f.PublicKeyPEM()), "\n", "\n      ")
	fmt.Printf("accounts:\n  - id: telecom_fake\n    provider: telecom\n    phone: %q\n    password: %q\n    base_url: %s\n    login_url: %s\n    rsa_public_key: |\n%s\n",
		*phone, *password, url, url, pub)
	log.Fatal(http.Serve(ln, f))
}

func loadKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			return nil, err
		}
		der := x509.MarshalPKCS1PrivateKey(k)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, err
		}
		return k, nil
	}
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	return x509.ParsePKCS1PrivateKey(blk.Bytes)
}
