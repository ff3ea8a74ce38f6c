// Fault-injection points (include/ned/core/fault.hpp).
#include "ned/core/fault.hpp"

#include <atomic>
#include <memory>
#include <mutex>

namespace ned {
namespace {
std::mutex g_mutex;
std::shared_ptr<FaultHandler> g_handler;
std::atomic<bool> g_installed{false};
}  // namespace

void fault_point(const char* name, int64_t count) {
    if (!g_installed.load(std::memory_order_relaxed)) return;
    std::shared_ptr<FaultHandler> h;
    {
        std::lock_guard<std::mutex> lock(g_mutex);
        h = g_handler;
    }
    if (h && *h) (*h)(name, count);
}

void set_fault_handler(FaultHandler handler) {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_installed = static_cast<bool>(handler);
    g_handler = handler ? std::make_shared<FaultHandler>(std::move(handler)) : nullptr;
}

}  // namespace ned
