// Package devicetype names a session's device class the one way the wire
// shows it outside the protobuf enum: "desktop", "mobile", "tablet", "bot",
// "other" — in webhook payloads, CSV exports, the tracker's bootstrap and
// the query parameters that filter by it.
package devicetype

import sessionsv1 "github.com/sightlinehq/sightline/gen/sightline/sessions/v1"

var names = map[sessionsv1.DeviceType]string{
	sessionsv1.DeviceType_DEVICE_TYPE_DESKTOP: "desktop",
	sessionsv1.DeviceType_DEVICE_TYPE_MOBILE:  "mobile",
	sessionsv1.DeviceType_DEVICE_TYPE_TABLET:  "tablet",
	sessionsv1.DeviceType_DEVICE_TYPE_BOT:     "bot",
	sessionsv1.DeviceType_DEVICE_TYPE_OTHER:   "other",
}

// Name returns d's name, "" for an unspecified or unknown class.
func Name(d sessionsv1.DeviceType) string { return names[d] }

// Parse returns the class a name stands for; false for anything else
// (names are exact: lower case, no spaces).
func Parse(name string) (sessionsv1.DeviceType, bool) {
	for d, n := range names {
		if n == name {
			return d, true
		}
	}
	return sessionsv1.DeviceType_DEVICE_TYPE_UNSPECIFIED, false
}
