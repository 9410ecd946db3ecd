package notify

import (
	"context"
	"errors"

	"github.com/sightlinehq/sightline/svc-notify/store"
)

// queueDelivery creates a delivery of payload to w and the job sending it,
// in one transaction; a delivery with the same key already stored for w
// is returned as it is (and queues nothing).
func (s *Service) queueDelivery(ctx context.Context, w store.Webhook, key, messageID, eventType string, payload []byte) (store.Delivery, error) {
	return store.Delivery{}, errors.New("notify: queueDelivery: not yet wired")
}
