package app

import "github.com/failoverbot/failoverbot/internal/lab"

func runbookEnv(l *lab.Lab) map[string]string { return lab.RunbookEnv(l.Env()) }
