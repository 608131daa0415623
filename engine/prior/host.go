package prior

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// ResolveHost returns the Ollama server's URL: the ollama_host key's value
// when set, else $OLLAMA_HOST, read by the rules of Ollama's own
// envconfig.Host (v0.17.4), so that lago talks to the server the ollama CLI
// talks to:
//   - quotes and spaces around the value are dropped;
//   - no scheme means http, and port 11434 when none is given; "http://h"
//     means port 80 and "https://h" port 443, as for any URL;
//   - an IPv6 address may come with or without brackets ("::1", "[::1]:1337");
//   - a path after the host is kept (a proxy serving Ollama under /ollama);
//   - "ollama.com" alone means https://ollama.com:443; empty means
//     127.0.0.1:11434.
//
// Two differences: where Ollama logs a warning and uses the default port for
// a port that is not 0–65535, lago refuses, naming the key or variable, since
// a silent default would talk to a server the user did not name; and a
// scheme other than http or https, which Ollama passes on to a client that
// cannot speak it, is refused at once.
func ResolveHost(host string) (*url.URL, error) {
	source := "config key ollama_host"
	if strings.TrimSpace(host) == "" {
		host, source = os.Getenv("OLLAMA_HOST"), "$OLLAMA_HOST"
	}
	// Ollama's envconfig.Var trims spaces, then quotes; Host trims spaces again.
	s := strings.TrimSpace(strings.Trim(strings.TrimSpace(host), `"'`))
	defaultPort := "11434"
	scheme, hostport, ok := strings.Cut(s, "://")
	switch {
	case !ok:
		scheme, hostport = "http", s
		if s == "ollama.com" {
			scheme, hostport = "https", "ollama.com:443"
		}
	case scheme == "http":
		defaultPort = "80"
	case scheme == "https":
		defaultPort = "443"
	default:
		return nil, fmt.Errorf("%s = %q: scheme %q; want http://, https:// or none (host:port)", source, host, scheme)
	}
	hostport, path, _ := strings.Cut(hostport, "/")
	h, port, err := net.SplitHostPort(hostport)
	if err != nil {
		h, port = "127.0.0.1", defaultPort
		if ip := net.ParseIP(strings.Trim(hostport, "[]")); ip != nil {
			h = ip.String()
		} else if hostport != "" {
			h = hostport
		}
	}
	if n, err := strconv.ParseInt(port, 10, 32); err != nil || n < 0 || n > 65535 {
		return nil, fmt.Errorf("%s = %q: port %q is not a number in 0..65535 (Ollama itself would fall back to port %s); fix the port", source, host, port, defaultPort)
	}
	return &url.URL{Scheme: scheme, Host: net.JoinHostPort(h, port), Path: path}, nil
}
