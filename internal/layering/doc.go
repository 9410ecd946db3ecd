// Package layering holds the test that keeps the services apart: code under
// svc-<name>/ may use the shared top-level packages and its own service's
// packages, never another service's; shared packages use no service's.
// Only cmd/ (which wires the services into one binary) and tests may reach
// across.
package layering
