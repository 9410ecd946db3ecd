package notify

import (
	notifyv1 "github.com/sightlinehq/sightline/gen/sightline/notify/v1"
)

// internal serves NotifyInternalService (the other services' calls).
type internal struct {
	notifyv1.UnimplementedNotifyInternalServiceServer
	s *Service
}

// Internal returns the NotifyInternalService server.
func (s *Service) Internal() notifyv1.NotifyInternalServiceServer { return &internal{s: s} }
