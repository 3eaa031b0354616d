package secret

import (
	"net/url"
	"regexp"
	"strings"
)

// parts returns what a structured secret value holds that may be shown
// apart from the whole value: the password of a URL's user info or of a
// libpq key=value DSN (password=…), the user info itself, each in the forms
// libraries and servers print them (raw, URL-escaped for a path or a query,
// with lower-case escapes, quoted and backslash-escaped as libpq writes
// conninfo), and the unescaped form of a URL-escaped value. A plain value
// has no parts.
func parts(v string) []string {
	var pws, infos []string
	var out []string
	// A secret kept URL-escaped (a password meant for a DSN template,
	// postgres://u:${secret:PW}@h) is printed unescaped by whoever parses it.
	if strings.Contains(v, "%") {
		if u, err := url.PathUnescape(v); err == nil && u != v {
			out = append(out, u)
		}
	}
	if strings.Contains(v, "://") {
		if u, err := url.Parse(strings.TrimSpace(v)); err == nil {
			if u.User != nil {
				if pw, ok := u.User.Password(); ok && pw != "" {
					pws = append(pws, pw)
					infos = append(infos, u.User.String(), u.User.Username()+":"+pw)
				} else if u.Scheme == "redis" || u.Scheme == "rediss" {
					// redis://secret@host: go-redis reads a lone user as
					// the password of the default user.
					pws = append(pws, u.User.Username())
				}
			}
			for k, vs := range u.Query() {
				if isPasswordKey(k) {
					pws = append(pws, vs...)
				}
			}
		}
	} else if strings.Contains(v, "=") {
		for k, val := range keyValues(v) {
			if isPasswordKey(k) {
				pws = append(pws, val)
			}
		}
	}
	for _, pw := range pws {
		out = append(out, forms(pw)...)
	}
	for _, in := range infos {
		out = append(out, in, strings.ToLower(in))
	}
	return out
}

// isPasswordKey reports the key=value and query keys that hold a password.
func isPasswordKey(k string) bool {
	switch strings.ToLower(k) {
	case "password", "pass", "passwd", "pwd", "sslpassword":
		return true
	}
	return false
}

// forms are the ways a password is printed: as is, URL-escaped for a path,
// a query or user info (upper- and lower-case escapes), and as libpq
// quotes it.
func forms(pw string) []string {
	q, p := url.QueryEscape(pw), url.PathEscape(pw)
	u := strings.TrimPrefix(url.UserPassword("", pw).String(), ":")
	return []string{pw, q, p, u, lowerEscapes(q), lowerEscapes(p), lowerEscapes(u),
		strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(pw)}
}

var escape = regexp.MustCompile(`%[0-9A-F]{2}`)

func lowerEscapes(s string) string {
	return escape.ReplaceAllStringFunc(s, strings.ToLower)
}

// keyValues parses a libpq key=value connection string: keys and values
// separated by whitespace, spaces allowed around '=', a value either
// unquoted or single-quoted, with \' and \\ escapes in both. It is lenient:
// what does not parse is skipped.
func keyValues(s string) map[string]string {
	out := map[string]string{}
	i := 0
	skip := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
	}
	for {
		skip()
		if i >= len(s) {
			return out
		}
		start := i
		for i < len(s) && s[i] != '=' && s[i] != ' ' && s[i] != '\t' {
			i++
		}
		key := s[start:i]
		skip()
		if i >= len(s) || s[i] != '=' {
			continue // not key=value: skip the word
		}
		i++
		skip()
		var b strings.Builder
		quoted := i < len(s) && s[i] == '\''
		if quoted {
			i++
		}
		for i < len(s) {
			c := s[i]
			if c == '\\' && i+1 < len(s) {
				b.WriteByte(s[i+1])
				i += 2
				continue
			}
			if (quoted && c == '\'') || (!quoted && (c == ' ' || c == '\t' || c == '\n')) {
				i++
				break
			}
			b.WriteByte(c)
			i++
		}
		out[key] = b.String()
	}
}
