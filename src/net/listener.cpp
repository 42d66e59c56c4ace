// ListenerSocket: accepting connections. Under io_uring one multishot accept is armed on first use and
// stays armed; each completion either goes straight to a waiting accept() or into a FIFO of accepted
// descriptors. Closing the listener cancels it; the Acceptor frees itself when the kernel's last completion
// for it has arrived (until then the kernel may still write to it).
#include "core/loop.hpp"

#include <corio/detail/io_op.hpp>
#include <corio/detail/waiters.hpp>
#include <corio/net/stream.hpp>
#include <corio/run.hpp>

#include <cerrno>
#include <deque>
#include <unistd.h>

namespace corio::net {

using detail::IoOp;

struct ListenerSocket::Acceptor {
    struct NextAwaiter final : detail::Waiter {
        Acceptor* m_acceptor;
        int m_listen_fd;  // for the error: a close() that fails this wait may free the Acceptor before it resumes
        int m_fd = -1;
        int m_err = 0;
        explicit NextAwaiter(Acceptor* a) noexcept : m_acceptor(a), m_listen_fd(a->m_op.m_fd) {}
        bool await_ready() const noexcept { return false; }
        template <detail::CorioPromise P>
        bool await_suspend(std::coroutine_handle<P> h) {
            return m_acceptor->start(this, h.promise().m_node, h);
        }
        int await_resume() const {
            if (m_fd >= 0) return m_fd;
            if (m_err) throw IoError("accept", m_listen_fd, m_err);
            detail::throw_cancelled();
        }
        void cancel() noexcept override {
            m_acceptor->m_waiters.remove(this);
            detail::t_loop->schedule(m_node);
        }
    };

    IoOp m_op;
    std::uint64_t m_loop;       // the id of the loop (and ring) it was armed on
    std::deque<int> m_ready;    // accepted, not yet handed out
    int m_error = 0;            // a failure no waiter has seen yet
    detail::WaiterList m_waiters;
    bool m_armed = false;
    bool m_orphaned = false;    // the listener closed: free when the kernel is done with m_op
    Acceptor* m_onext = nullptr;  // the loop's list of orphans, freed when run() ends if still armed
    Acceptor* m_oprev = nullptr;

    /// The orphans of the running loop: those whose final completion has not come yet.
    struct Orphans {
        Acceptor* head = nullptr;
        static Orphans& of_this_loop() {
            auto& loop = detail::this_loop();
            auto* o = static_cast<Orphans*>(loop.slot(detail::LoopSlot::net_orphans));
            if (!o) {
                o = new Orphans;
                loop.set_slot(detail::LoopSlot::net_orphans, o, [](void* p) {
                    auto* self = static_cast<Orphans*>(p);
                    while (Acceptor* a = self->head) {  // the ring reaps no more: nothing writes to them now
                        self->head = a->m_onext;
                        delete a;
                    }
                    delete self;
                });
            }
            return *o;
        }
        void add(Acceptor* a) noexcept {
            a->m_onext = head;
            if (head) head->m_oprev = a;
            head = a;
        }
        void remove(Acceptor* a) noexcept {
            if (a->m_oprev) a->m_oprev->m_onext = a->m_onext;
            else head = a->m_onext;
            if (a->m_onext) a->m_onext->m_oprev = a->m_oprev;
        }
    };

    void free_orphan() noexcept {
        Orphans::of_this_loop().remove(this);
        delete this;
    }

    explicit Acceptor(int fd) noexcept : m_op(IoOp::Kind::accept_multi, fd), m_loop(detail::t_loop->m_id) {
        m_op.m_on_done = &Acceptor::on_done;
    }

    NextAwaiter next() noexcept { return NextAwaiter(this); }

    bool start(NextAwaiter* w, detail::TaskNode* n, std::coroutine_handle<> h) {
        w->m_node = n;
        if (n->cancelled()) return false;
        if (!m_ready.empty() || m_error) {
            hand_out(w);
            n->m_resume = h;
            return detail::completed_inline(n);
        }
        detail::park(m_waiters, w, n, h);
        if (!m_armed) arm();
        return true;
    }

    void hand_out(NextAwaiter* w) noexcept {
        if (!m_ready.empty()) {
            w->m_fd = m_ready.front();
            m_ready.pop_front();
        } else {
            w->m_err = m_error;
            m_error = 0;
        }
    }

    void arm() {
        m_armed = true;
        if (detail::io_submit(&m_op)) {  // refused at once (a kernel without multishot accept)
            m_armed = false;
            on_result(m_op.m_res);
        }
    }

    void on_result(int res) noexcept {
        if (res >= 0) {
            if (m_orphaned) {
                ::close(res);
                return;
            }
            m_ready.push_back(res);
        } else if (res != -ECANCELED || !m_orphaned) {
            m_error = -res;
        }
        while (!m_waiters.empty() && (!m_ready.empty() || m_error)) {
            auto* w = static_cast<NextAwaiter*>(m_waiters.pop_front());
            hand_out(w);
            detail::t_loop->wake(w->m_node);
        }
    }

    static void on_done(IoOp* op) noexcept {
        auto* self = reinterpret_cast<Acceptor*>(reinterpret_cast<char*>(op) - offsetof(Acceptor, m_op));
        bool last = op->m_state == IoOp::done;
        if (last) self->m_armed = false;
        self->on_result(op->m_res);  // an orphan's cancellation and late connections are dropped there
        if (!last) return;
        if (self->m_orphaned) {
            self->free_orphan();
        } else if (!self->m_waiters.empty()) {  // the kernel ended it (an error): arm again for the others
            try {
                self->arm();
            } catch (...) {
            }
        }
    }

    /// The listener is closing: fail the waiters, close what was not handed out, and let go.
    void close() noexcept {
        while (auto* w = static_cast<NextAwaiter*>(m_waiters.pop_front())) {
            w->m_err = EBADF;
            detail::t_loop->wake(w->m_node);
        }
        for (int fd : m_ready) ::close(fd);
        m_ready.clear();
        if (m_armed && detail::t_loop && detail::t_loop->m_id == m_loop) {
            Orphans::of_this_loop().add(this);  // exists: made with the Acceptor
            m_orphaned = true;
            detail::io_cancel(&m_op);  // on_done frees it at the final completion
            return;
        }
        delete this;  // not armed, or its loop (and ring) is gone
    }
};

ListenerSocket& ListenerSocket::operator=(ListenerSocket&& o) noexcept {
    if (this != &o) {
        close();
        Socket::operator=(std::move(o));
        m_acceptor = o.m_acceptor;
        o.m_acceptor = nullptr;
    }
    return *this;
}

void ListenerSocket::close() noexcept {
    if (m_acceptor) {
        m_acceptor->close();
        m_acceptor = nullptr;
    }
    if (m_fd >= 0) corio::close(m_fd);  // at once (not close_soon): the port must be free when close() returns
    m_fd = -1;
}

Task<int> ListenerSocket::accept_fd() {
    if (current_backend() != Backend::io_uring) co_return co_await corio::accept(m_fd);
    if (m_acceptor && m_acceptor->m_loop != detail::t_loop->m_id) {  // used from a later loop: start afresh
        m_acceptor->close();
        m_acceptor = nullptr;
    }
    if (!m_acceptor) {
        (void)Acceptor::Orphans::of_this_loop();  // allocated now, so that close() need not
        m_acceptor = new Acceptor(m_fd);
    }
    co_return co_await m_acceptor->next();
}

}  // namespace corio::net
