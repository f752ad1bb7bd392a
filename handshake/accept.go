package handshake

import (
	"crypto/sha1"
	"encoding/base64"
)

// keyGUID is the GUID of RFC 6455 §1.3 that the accept key hashes in.
const keyGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKey returns the Sec-WebSocket-Accept value for a Sec-WebSocket-Key:
// base64(SHA-1(key + GUID)) (RFC 6455 §4.2.2). The result is its only
// allocation for keys of up to 64 bytes (a valid key has 24).
func AcceptKey(key string) string {
	var in [64 + len(keyGUID)]byte
	var b []byte
	if len(key) <= 64 {
		b = append(in[:0], key...)
	} else {
		b = []byte(key)
	}
	sum := sha1.Sum(append(b, keyGUID...))
	var out [28]byte
	base64.StdEncoding.Encode(out[:], sum[:])
	return string(out[:])
}

// validKey reports whether key is the base64 of 16 bytes (RFC 6455 §4.1:
// "a randomly selected 16-byte value that has been base64-encoded").
func validKey(key string) bool {
	if len(key) != 24 {
		return false
	}
	var raw [18]byte
	n, err := base64.StdEncoding.Strict().Decode(raw[:], []byte(key))
	return err == nil && n == 16
}
