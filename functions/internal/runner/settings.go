package runner

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode"

	"github.com/kelseyhightower/envconfig"
)

// Load is the one settings loader of the functions: it fills cfg (a
// pointer to a struct with envconfig tags) from the environment and checks
// every setting at start, so that a function with a bad setting never
// starts rather than failing at first use. Every error names the
// variable, never its value (a value may be a secret). Rules:
//
//   - the value parses as its field's type (envconfig), and a required
//     one is set;
//   - no text setting contains a control character (CR, LF, NEL, ...) or
//     a line separator: one would end up in a header, a log line or a
//     topic name (MAIL_FROM_NAME with a CR let sendMail start and then
//     refuse every email);
//   - no duration is negative;
//   - a field tagged check:"positive" is above zero, check:"nonnegative"
//     at least zero (numbers and durations);
//   - cfg's own Check() error, if it has one, for rules between settings.
func Load(cfg any) error {
	if err := envconfig.Process("", cfg); err != nil {
		return settingError(err)
	}
	if err := checkFields(reflect.ValueOf(cfg).Elem()); err != nil {
		return err
	}
	if c, ok := cfg.(interface{ Check() error }); ok {
		return c.Check()
	}
	return nil
}

// settingError rewrites envconfig's error, which quotes the value, to name
// only the variable and the type it must be.
func settingError(err error) error {
	var pe *envconfig.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("configuration: %w", err) // a missing required variable: no value to hide
	}
	detail := ""
	if inner := pe.Err; inner != nil && pe.Value != "" && !strings.Contains(inner.Error(), pe.Value) {
		detail = " (" + inner.Error() + ")"
	}
	return fmt.Errorf("configuration: %s is not a valid %s%s", pe.KeyName, pe.TypeName, detail)
}

var durationType = reflect.TypeFor[time.Duration]()

// checkFields applies Load's rules to the fields of struct v, and of the
// structs it embeds.
func checkFields(v reflect.Value) error {
	t := v.Type()
	for i := range t.NumField() {
		f, fv := t.Field(i), v.Field(i)
		if !f.IsExported() { // envconfig leaves them alone
			continue
		}
		name := f.Tag.Get("envconfig")
		if fv.Kind() == reflect.Struct && name == "" {
			if err := checkFields(fv); err != nil {
				return err
			}
			continue
		}
		if name == "" {
			continue
		}
		if err := checkField(name, f.Tag.Get("check"), fv); err != nil {
			return fmt.Errorf("configuration: %s %w", name, err)
		}
	}
	return nil
}

func checkField(name, rule string, v reflect.Value) error {
	var sign float64 // of a number or duration
	switch v.Kind() {
	case reflect.String:
		if strings.ContainsFunc(v.String(), func(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }) {
			return errors.New("must not contain control characters (CR, LF, ...) nor line separators")
		}
		return nil
	case reflect.Slice:
		for i := range v.Len() {
			if err := checkField(name, rule, v.Index(i)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		sign = float64(v.Int())
		if v.Type() == durationType && sign < 0 {
			return errors.New("must not be negative")
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		sign = float64(v.Uint())
	case reflect.Float32, reflect.Float64:
		sign = v.Float()
	default:
		return nil
	}
	switch {
	case rule == "positive" && !(sign > 0):
		return errors.New("must be above zero")
	case rule == "nonnegative" && !(sign >= 0):
		return errors.New("must not be negative")
	}
	return nil
}

// Location loads the time zone that the setting name holds (an IANA name
// such as America/Santiago), naming the variable, never its value, when
// there is no such zone.
func Location(name, value string) (*time.Location, error) {
	loc, err := time.LoadLocation(value)
	if err != nil {
		return nil, fmt.Errorf("%s is not a time zone of the IANA database, such as America/Santiago", name)
	}
	return loc, nil
}
