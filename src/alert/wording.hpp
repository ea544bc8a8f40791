#pragma once
// What an alert says: the store hands back condition rows, this turns each into an
// Alertmanager alert (labels + summary/description). Pure functions, thread-safe.

#include <vector>

#include "alert/senders.hpp"
#include "store/event_store.hpp"

namespace kiln::alert {

/// KilnJobFailed, KilnJobDiscarded, KilnNodeLost, KilnAlertDeliveryFailed.
Alert word(const store::Condition& c);
std::vector<Alert> word_all(const std::vector<store::Condition>& conditions);

}  // namespace kiln::alert
