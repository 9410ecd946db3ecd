package loopback

// EphemeralStart is ephemeralStart, for the test.
var EphemeralStart = ephemeralStart
