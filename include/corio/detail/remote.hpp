#pragma once
// Items other threads hand to a loop (finished thread-pool jobs, posted functions). Not public API.

namespace corio::detail {

struct RemoteQueue;

struct RemoteItem {
    RemoteItem* m_rnext = nullptr;
    void (*m_run)(RemoteItem*) = nullptr;  // called on the loop thread
};

/// The running loop's inbox (loop thread only).
RemoteQueue* current_remote();
/// Hands `item` to the loop owning `q`, waking it if it sleeps (any thread).
void remote_push(RemoteQueue* q, RemoteItem* item) noexcept;

}  // namespace corio::detail
