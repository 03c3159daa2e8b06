package render

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// YAML writes the rule file. The emitter is hand-written for this one
// shape: it is several times faster than a reflective encoder (rendering
// runs twice per generated SLO, once to produce and once to verify), and
// its output is fixed byte for byte, which the rules digest needs.
func (f File) YAML() string {
	var b strings.Builder
	b.Grow(8192)
	b.WriteString("groups:\n")
	for _, g := range f.Groups {
		b.WriteString("  - name: ")
		scalar(&b, g.Name, 6)
		b.WriteString("    rules:\n")
		for _, r := range g.Rules {
			first := "      - "
			field := func(key, value string) {
				if value == "" {
					return
				}
				b.WriteString(first)
				first = "        "
				b.WriteString(key)
				b.WriteString(": ")
				scalar(&b, value, 10)
			}
			field("record", r.Record)
			field("alert", r.Alert)
			field("expr", r.Expr)
			field("for", r.For)
			mapping(&b, "labels", r.Labels)
			mapping(&b, "annotations", r.Annotations)
		}
	}
	return b.String()
}

func mapping(b *strings.Builder, key string, m labelMap) {
	if len(m) == 0 {
		return
	}
	b.WriteString("        ")
	b.WriteString(key)
	b.WriteString(":\n")
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b.WriteString("          ")
		b.WriteString(k)
		b.WriteString(": ")
		scalar(b, m[k], 12)
	}
}

// plainSafe matches strings YAML reads back unchanged without quotes: they
// start with a letter or '_', hold no ": " or " #" (checked apart), and
// contain nothing YAML gives meaning to in a plain scalar.
var plainSafe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_:./(){}=", *>+-]*$`)

// scalar writes s as a YAML scalar and a newline: plain when safe, a
// literal block for multi-line text, double-quoted otherwise. Go's quoting
// escapes are all valid YAML double-quoted escapes.
func scalar(b *strings.Builder, s string, indent int) {
	switch {
	case plainSafe.MatchString(s) && !strings.Contains(s, ": ") && !strings.Contains(s, " #") &&
		!strings.HasSuffix(s, " ") && !strings.HasSuffix(s, ":") && !reserved(s):
		b.WriteString(s)
	case strings.Contains(s, "\n") && blockSafe(s):
		b.WriteString("|-\n")
		pad := strings.Repeat(" ", indent)
		for _, line := range strings.Split(s, "\n") {
			if line != "" {
				b.WriteString(pad)
				b.WriteString(line)
			}
			b.WriteByte('\n')
		}
		return
	default:
		b.WriteString(strconv.Quote(s))
	}
	b.WriteByte('\n')
}

// blockSafe reports whether s reads back unchanged from a "|-" literal
// block: printable ASCII lines, the first not indented (YAML takes the
// block's indentation from it), no trailing spaces, no trailing newline.
func blockSafe(s string) bool {
	if s == "" || s[0] == ' ' || strings.HasSuffix(s, "\n") {
		return false
	}
	for _, line := range strings.Split(s, "\n") {
		if strings.HasSuffix(line, " ") {
			return false
		}
		for i := 0; i < len(line); i++ {
			if line[i] < 0x20 || line[i] > 0x7e {
				return false
			}
		}
	}
	return true
}

// reserved reports plain scalars YAML would read as something other than
// a string.
func reserved(s string) bool {
	switch strings.ToLower(s) {
	case "true", "false", "yes", "no", "on", "off", "null", "y", "n", "~":
		return true
	}
	return false
}
