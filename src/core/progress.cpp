#include "ned/core/progress.hpp"

#include <unistd.h>

#include <cstdio>

#include "ned/core/log.hpp"

namespace ned {
namespace {
bool g_enabled = true;
}
void set_progress_enabled(bool on) { g_enabled = on; }
bool progress_enabled() { return g_enabled; }

ProgressBar::ProgressBar(std::string label, long total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled && g_enabled), tty_(::isatty(2) != 0) {
    start_ = last_draw_ = std::chrono::steady_clock::now();
}

ProgressBar::~ProgressBar() {
    if (!finished_ && done_ > 0) finish();
}

void ProgressBar::set_total(long total) {
    std::lock_guard<std::mutex> lock(mutex_);
    total_ = total;
}

void ProgressBar::update(long done) {
    std::lock_guard<std::mutex> lock(mutex_);
    done_ = done;
    draw(false);
}

void ProgressBar::finish() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (finished_) return;
    finished_ = true;
    draw(true);
}

ProgressFn ProgressBar::fn() {
    return [this](long done, long total) {
        if (total > 0 && total != total_) set_total(total);
        update(done);
    };
}

void ProgressBar::draw(bool final) {
    if (!enabled_) return;
    auto now = std::chrono::steady_clock::now();
    const double secs = std::chrono::duration<double>(now - start_).count();
    const double rate = secs > 0 ? done_ / secs : 0.0;
    if (tty_) {
        if (!final && now - last_draw_ < std::chrono::milliseconds(100)) return;
        last_draw_ = now;
        char buf[256];
        if (total_ > 0) {
            const int width = 30;
            const double frac = std::min(1.0, static_cast<double>(done_) / total_);
            const int fill = static_cast<int>(frac * width);
            std::string bar(fill, '#');
            bar.resize(width, '.');
            const double eta = rate > 0 ? (total_ - done_) / rate : 0.0;
            std::snprintf(buf, sizeof buf, "\r%-12s [%s] %5.1f%% %ld/%ld  %.1f/s  eta %.0fs ", label_.c_str(),
                          bar.c_str(), frac * 100.0, done_, total_, rate, eta);
        } else {
            std::snprintf(buf, sizeof buf, "\r%-12s %ld  %.1f/s ", label_.c_str(), done_, rate);
        }
        std::fputs(buf, stderr);
        if (final) std::fputs("\n", stderr);
        std::fflush(stderr);
    } else if (total_ > 0) {
        const int decile = static_cast<int>(10.0 * done_ / total_);
        if (decile != last_decile_ || final) {
            if (decile == last_decile_ && final) return;
            last_decile_ = decile;
            NED_LOG_INFO("[{}] {}/{} ({:.0f}%), {:.1f}/s", label_, done_, total_, 100.0 * done_ / total_, rate);
        }
    } else if (final) {
        NED_LOG_INFO("[{}] {} done, {:.1f}/s", label_, done_, rate);
    }
}

}  // namespace ned
