#pragma once
// Progress reporting for long work. Library stages take a `ProgressFn` in their options; the CLI passes
// a ProgressBar that draws on stderr (a live bar on a terminal, a log line every 10% otherwise).
#include <chrono>
#include <functional>
#include <mutex>
#include <string>

namespace ned {

/// Called with (done, total); total <= 0 means unknown.
using ProgressFn = std::function<void(long done, long total)>;

class ProgressBar {
public:
    /// `label` is shown before the bar ("crop"); `enabled=false` makes every call a no-op (-q).
    ProgressBar(std::string label, long total, bool enabled = true);
    ~ProgressBar();
    void set_total(long total);
    void update(long done);
    void finish();
    /// A ProgressFn forwarding to this bar.
    ProgressFn fn();

private:
    void draw(bool final);
    std::string label_;
    long total_ = 0, done_ = 0;
    bool enabled_, tty_, finished_ = false;
    int last_decile_ = -1;
    std::chrono::steady_clock::time_point start_, last_draw_;
    std::mutex mutex_;
};

/// Global switch set by the CLI from -q: when false, ProgressBars are silent.
void set_progress_enabled(bool on);
bool progress_enabled();

}  // namespace ned
