#pragma once
// Everything corio offers: #include <corio/corio.hpp>.

#include <corio/error.hpp>
#include <corio/gather.hpp>
#include <corio/io.hpp>
#include <corio/net/address.hpp>
#include <corio/net/dns.hpp>
#include <corio/net/error.hpp>
#include <corio/net/stream.hpp>
#include <corio/net/tcp.hpp>
#include <corio/net/tls.hpp>
#include <corio/net/unix.hpp>
#include <corio/offload/thread_pool.hpp>
#include <corio/outcome.hpp>
#include <corio/run.hpp>
#include <corio/spawn.hpp>
#include <corio/strict.hpp>
#include <corio/sync/event.hpp>
#include <corio/sync/lock.hpp>
#include <corio/sync/queue.hpp>
#include <corio/sync/semaphore.hpp>
#include <corio/task.hpp>
#include <corio/task_group.hpp>
#include <corio/time.hpp>
#include <corio/fs/file.hpp>
#include <corio/fs/whole_file.hpp>
