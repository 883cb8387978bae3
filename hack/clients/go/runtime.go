//go:build tools

// Package main keeps the runtime the generated clients import in go.mod.
package main

import _ "github.com/oapi-codegen/runtime"
