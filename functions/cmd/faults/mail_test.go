package main

import (
	"testing"
	"time"
)

// TestCheckMailCrashWindow: a second copy of an email is forgiven only when
// the first was accepted just before sendMail was SIGKILLed and both carry
// the same Message-ID; every other extra copy fails the scenario.
func TestCheckMailCrashWindow(t *testing.T) {
	kill := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		copies     []email // to the one vendor
		wantDouble int
		wantPass   bool
	}{
		{"one email", []email{{MessageID: "a", At: kill.Add(-time.Second)}}, 0, true},
		{"accepted 3ms before the kill, resent", []email{{MessageID: "a", At: kill.Add(-3 * time.Millisecond)}, {MessageID: "a", At: kill.Add(27 * time.Second)}}, 0, true},
		{"accepted 2s before the kill, resent", []email{{MessageID: "a", At: kill.Add(-2 * time.Second)}, {MessageID: "a", At: kill.Add(27 * time.Second)}}, 1, false},
		{"both after the kill", []email{{MessageID: "a", At: kill.Add(time.Second)}, {MessageID: "a", At: kill.Add(2 * time.Second)}}, 1, false},
		{"different Message-IDs", []email{{MessageID: "a", At: kill.Add(-3 * time.Millisecond)}, {MessageID: "b", At: kill.Add(time.Second)}}, 1, false},
		{"three copies", []email{{MessageID: "a", At: kill.Add(-3 * time.Millisecond)}, {MessageID: "a", At: kill.Add(time.Second)}, {MessageID: "a", At: kill.Add(2 * time.Second)}}, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s summaryAnswer
			s.Summary.Ventas = ventas{"v@feria.example": {}}
			for i := range tt.copies {
				tt.copies[i].To = "v@feria.example"
			}
			row := &Row{Pass: true}
			checkMail(row, tt.copies, s, nil, time.Second, kill)
			if row.Double != tt.wantDouble || row.Pass != tt.wantPass {
				t.Errorf("double %d, pass %v; want %d, %v (%s)", row.Double, row.Pass, tt.wantDouble, tt.wantPass, row.Notes)
			}
		})
	}
}
