// The reader task that serves each worker slot (answers in; a dead worker reaped through its pidfd, its calls
// settled, a replacement started), the frames of calls going out, and the pool's shutdown (see
// process_pool_state.hpp for the shapes).
#include "process_pool_state.hpp"

#include <corio/io.hpp>
#include <corio/strict.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>

namespace corio {

namespace {

std::string signal_text(int sig) {
    std::string s = "signal " + std::to_string(sig);
    if (const char* abbrev = ::sigabbrev_np(sig)) s += std::string(" (SIG") + abbrev + ")";
    return s;
}

}  // namespace

// ---- starting and reaping workers -----------------------------------------------------------------------------

void ProcessPool::State::reap(Worker* w) {
    siginfo_t si{};
    int r;
    do {
        r = ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(w->pidfd), &si, WEXITED | WNOHANG);
    } while (r < 0 && errno == EINTR);
    int sig = 0, status = -1;
    std::string how;
    if (r == 0 && si.si_pid != 0) {
        if (si.si_code == CLD_EXITED) {
            status = si.si_status;
            how = "exited with status " + std::to_string(status);
        } else {
            sig = si.si_status;
            how = "was killed by " + signal_text(sig);
        }
    } else {
        how = "ended (its exit status is unknown: another part of the program reaped it)";
    }
    Job* again[pp::k_slots];  // calls it had not started: first in line again, in their order
    int n_again = 0;
    for (int i = 0; i < pp::k_slots; ++i) {
        Slot& slot = w->slots[i];
        Job* j = slot.job;
        CallState state = slot.id != 0 ? call_state(w, i, slot.id) : CallState::delivered;
        if (slot.id != 0 && !pinned.empty()) release_blocks(slot.id);  // it is dead: it reads them no more
        slot = {};
        if (state == CallState::finished) {  // its answer had not gone out yet: the result is in shared memory
            ++stats.completed;
            auto n = std::atomic_ref<std::uint64_t>(*w->shm.result_size(i)).load(std::memory_order_relaxed);
            if (j) deliver(j, w->shm.reply(i), static_cast<std::size_t>(std::min<std::uint64_t>(n, w->shm.area)),
                           false);
            continue;
        }
        if (!j) continue;
        auto error = std::make_exception_ptr(WorkerCrashedError(
            w->pid, sig, status,
            "corio::ProcessPool: worker process " + std::to_string(w->pid) + " " + how + " while running the job"));
        if (j->phase == Phase::sending) {  // its task decides once its write is over
            if (!j->lost) ++lost_writes;
            j->lost = true;
            j->lost_started = state != CallState::delivered;  // started (or answered: lost)
            j->lost_error = error;
        } else if (state == CallState::delivered) {
            again[n_again++] = j;
        } else {
            ++stats.crashed;
            finish(j, error);
        }
    }
    while (n_again > 0) {  // the latest first to the front, so that the earliest ends up at the head
        int latest = 0;
        for (int i = 1; i < n_again; ++i)
            if (again[i]->id > again[latest]->id) latest = i;
        Job* j = again[latest];
        again[latest] = again[--n_again];
        j->worker = nullptr;
        j->phase = Phase::queued;
        queue.push_front(j);
    }
    bool failed_to_start = !w->ready && !w->killed && !closing;
    int pid = w->pid;
    close_fds(w);
    w->pid = -1;
    w->ready = w->dead = w->eof = w->killed = w->draining = false;
    w->in_start = w->in_end = 0;
    if (!failed_to_start) {
        startup_failures = 0;
    } else if (++startup_failures >= 3 && !broken) {
        broken = std::make_exception_ptr(WorkerCrashedError(
            pid, sig, status,
            "corio::ProcessPool: worker processes die before they are ready (the last one, " + std::to_string(pid) +
                ", " + how + "; 3 in a row): the pool is broken"));
        fail_waiting(broken);
    }
    dispatch();
    changed();
}

// ---- answers ----------------------------------------------------------------------------------------------------

void ProcessPool::State::on_frame(Worker* w, const pp::Header& h, const char* payload, std::size_t len) {
    if (h.kind == pp::hello) {
        w->ready = true;
        return;
    }
    int i = 0;
    while (i < pp::k_slots && (w->slots[i].id != h.id || h.id == 0)) ++i;
    if (i == pp::k_slots) return;  // not a call this worker owes an answer to
    Job* j = w->slots[i].job;
    w->slots[i] = {};
    if (!pinned.empty()) release_blocks(h.id);  // the call is over
    if (w->draining && w->owed() == 0) kill(w);  // what it owed before the request that was cut short is in
    if (h.kind == pp::skipped) {  // taken back before it started
        if (j) requeue(j);
    } else {
        ++stats.completed;
        if (j) {
            if (h.kind != pp::value_shm) {
                deliver(j, payload, len, h.kind == pp::exception);
            } else {
                std::uint64_t n = 0;
                if (len == 8) std::memcpy(&n, payload, 8);
                if (len == 8 && w->shm.base && n <= w->shm.area)
                    deliver(j, w->shm.reply(i), static_cast<std::size_t>(n), false);
                else
                    finish(j, std::make_exception_ptr(SerializationError("corio::ProcessPool: a malformed answer")));
            }
        }
    }
    dispatch();
}

void ProcessPool::State::deliver(Job* j, const char* payload, std::size_t len, bool exception) noexcept {
    std::exception_ptr error;
    try {
        SerialReader r(payload, len);
        if (exception) error = pp::decode_exception(r);
        else if (j->call->read_result) j->call->read_result(j->call->result, r);
    } catch (...) {
        error = std::current_exception();
    }
    finish(j, std::move(error));
}

// The frame for the job's call: the call itself, or a notice that it is in the worker's shared memory.
void ProcessPool::State::write_call(Worker* w, Job* j, std::string& out) {
    const detail::CallSpec& c = *j->call;
    out.assign(pp::k_header, '\0');
    pp::Kind kind = pp::call;
    if (w->shm.base) {
        std::atomic_ref<std::uint64_t>(w->claim(j->slot)).store(j->id, std::memory_order_release);
        out.push_back(static_cast<char>(j->slot));
        std::size_t at = out.size();
        SerialWriter sw(w->shm.request(j->slot), w->shm.area, out);
        pp::write_call_refs(sw, c.tramp, c.fn);
        c.write_args(c.args, sw);
        if (!sw.to_string()) {
            kind = pp::call_shm;
            std::uint64_t n = sw.in_place();
            out.resize(at);
            out.append(reinterpret_cast<const char*>(&n), 8);
        }
    } else {
        out.push_back(static_cast<char>(pp::k_no_slot));
        SerialWriter sw(out);
        pp::write_call_refs(sw, c.tramp, c.fn);
        c.write_args(c.args, sw);
    }
    if (out.size() > pp::k_max_frame)
        throw SerializationError("corio::ProcessPool::submit: the arguments take more than 4 GiB");
    pp::put_header(out.data(), static_cast<std::uint32_t>(out.size() - 4), kind, j->id);
}

void ProcessPool::State::parse(Worker* w) {
    while (w->in_end - w->in_start >= 4) {
        const char* at = w->in.data() + w->in_start;
        std::uint32_t n;
        std::memcpy(&n, at, 4);
        if (n < pp::k_header - 4) {  // not our protocol: nothing more from this worker can be trusted
            kill(w);
            w->eof = true;  // what follows is not read
            w->in_start = w->in_end = 0;
            return;
        }
        if (w->in_end - w->in_start < 4 + std::size_t{n}) break;
        pp::Header h = pp::get_header(at);
        on_frame(w, h, at + pp::k_header, n - (pp::k_header - 4));
        w->in_start += 4 + std::size_t{n};
    }
}

// attach() counted this reader and took a reference for it before it first runs; it gives both back here.
Task<void> ProcessPool::State::serve(State* s, Worker* w) {
    struct Adopted {
        State* s;
        ~Adopted() { unref(s); }
    } adopted{s};
    s->dispatch();
    for (;;) {
        if (s->closed) break;
        if (w->pid < 0) {
            // Closing, a replacement is started only for calls still waiting (a worker died with calls it had
            // not started): close() lets every call submitted before it finish.
            if (s->broken || (s->closing && !s->waiting())) break;
            pp::SpawnRequest req;
            State::SpawnWait spawn(&req);
            std::exception_ptr failed;
            try {
                s->prepare(w, req);
                co_await spawn;  // on the spawner thread: the loop goes on meanwhile
            } catch (...) {
                failed = std::current_exception();
            }
            if (spawn.skipped) break;  // cancelled before anything was started
            if (!failed && (s->closed || (s->closing && !s->waiting()))) {  // gone or closing meanwhile: unneeded
                pp::discard(req);
                break;
            }
            if (!failed) {
                try {
                    s->adopt(w, req);
                } catch (...) {
                    failed = std::current_exception();
                }
            }
            if (failed) {
                s->broken = failed;
                s->fail_waiting(s->broken);
                break;
            }
            s->dispatch();
            continue;
        }
        bool cancelled = false;
        // A worker marked dead while its stream is still open (killed by us, a failed write) may have written
        // answers before it died: they are read to the end of the stream before it is reaped, or calls that
        // it finished would be reported as crashed.
        if (w->eof) {
            try {
                co_await corio::poll(w->pidfd, POLLIN);  // readable once it can be reaped
            } catch (const CancelledError&) {
                cancelled = true;
            } catch (const IoError&) {
            }
            if (cancelled || s->closed) break;
            s->reap(w);
            continue;
        }
        pp::make_room(w->in, w->in_start, w->in_end);
        std::size_t n = 0;
        bool eof = false;
        try {
            n = co_await corio::recv(w->fd, w->in.data() + w->in_end, w->in.size() - w->in_end);
            eof = n == 0;
        } catch (const CancelledError&) {
            cancelled = true;
        } catch (const IoError&) {  // ECONNRESET: it died with our request unread
            eof = true;
        }
        if (cancelled) break;
        if (eof) {
            w->dead = w->eof = true;
            continue;
        }
        w->in_end += n;
        s->parse(w);
    }
    w->serving = false;
    --s->readers;
    s->changed();
}

void ProcessPool::State::attach() {
    std::uint64_t id = detail::t_loop->m_id;
    if (loop_id == id) return;
    if (readers > 0)
        throw Error("corio::ProcessPool: used from a second loop while another loop still serves it; a pool "
                    "belongs to one loop at a time");
    loop_id = id;
    for (auto& w : workers) {
        w->reader = corio::spawn(serve(this, w.get()), "corio::ProcessPool reader");
        ++refs;  // counted now, not when the task first runs: close() or the destructor may come first
        ++readers;
        w->serving = true;
    }
}

void ProcessPool::State::shut_down(State* s) {
    if (!s) return;
    s->closing = s->closed = true;
    auto gone = destroyed_error();
    s->fail_waiting(gone);
    allow_blocking internal;  // the workers are killed, then reaped here: a fallback, close() is the graceful way
    for (auto& w : s->workers) {
        for (Slot& slot : w->slots) {
            if (slot.job) s->finish(slot.job, gone);
            slot = {};
        }
        if (w->pid >= 0) {
            pp::kill_and_reap(w->pidfd);
            s->close_fds(w.get());
            w->pid = -1;
            ++w->generation;
        }
        if (w->serving) w->reader.cancel();
        if (w->shm.base) {
            ::munmap(w->shm.base, pp::SharedLayout::bytes_for(w->shm.area));
            ::close(w->memfd);
            w->shm = {};
            w->memfd = -1;
        }
    }
    for (const Pinned& p : s->pinned) s->heap->unpin(p.block);  // every worker is reaped: nothing reads them
    s->pinned.clear();
    s->changed();
    unref(s);
}

}  // namespace corio
