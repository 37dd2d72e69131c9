package httpx_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/accountbridge/accountbridge/internal/httpx"
)

// One POST with a JSON body and a 2 KB answer through a client of New, as a provider's
// query is: what the client adds per request (User-Agent, timeout, debug log off).
func BenchmarkClientPost(b *testing.B) {
	answer := bytes.Repeat([]byte("x"), 2048)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write(answer)
	}))
	b.Cleanup(srv.Close)
	c, err := httpx.New(httpx.Options{Provider: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"query":"qryImportantData","account":"13800000000"}`)
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		req, err := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		buf.Reset()
		_, err = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if err != nil || buf.Len() != len(answer) {
			b.Fatalf("read %d bytes: %v", buf.Len(), err)
		}
	}
}
