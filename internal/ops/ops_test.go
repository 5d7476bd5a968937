package ops

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHealthAndReadiness(t *testing.T) {
	var storeErr error
	h := &Health{Ready: func(context.Context) error { return storeErr }}
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()
	get := func(path string) int {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := get("/healthz"); c != 200 {
		t.Fatalf("/healthz = %d", c)
	}
	if c := get("/readyz"); c != 200 {
		t.Fatalf("/readyz = %d", c)
	}
	storeErr = errors.New("store down")
	if c := get("/readyz"); c != 503 {
		t.Fatalf("/readyz with the store down = %d", c)
	}
	storeErr = nil
	h.Drain()
	if c := get("/readyz"); c != 503 {
		t.Fatalf("/readyz while draining = %d", c)
	}
	if c := get("/healthz"); c != 200 {
		t.Fatalf("/healthz while draining = %d", c)
	}
}
