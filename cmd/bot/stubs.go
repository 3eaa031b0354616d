package main

import (
	"context"
	"io"
)

func cmdConsole(context.Context, []string, io.Writer, io.Writer) int { return 1 }
func cmdServe(context.Context, []string, io.Writer, io.Writer) int   { return 1 }
func cmdLab(context.Context, []string, io.Writer, io.Writer) int     { return 1 }
func cmdDemo(context.Context, []string, io.Writer, io.Writer) int    { return 1 }
