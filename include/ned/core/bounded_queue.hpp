#pragma once
// BoundedQueue<T>: a first-in first-out queue between threads with a fixed capacity, so a fast producer
// never holds more than `capacity` items (memory stays constant in video length).
//
//   push() blocks while the queue is full; pop() blocks while it is empty. close() ends the stream: pop()
//   returns the items still queued and then false. abort(error) ends it at once from either side: queued
//   items are dropped, every waiting and later push() and pop() rethrows `error` (or throws Cancelled when
//   it is null), so a failing consumer stops its producers and a failing producer stops its consumers.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <utility>

namespace ned {

template <typename T>
class BoundedQueue {
public:
    /// Thrown by push()/pop() after abort() without an error.
    struct Cancelled : std::runtime_error {
        Cancelled() : std::runtime_error("the stream was cancelled") {}
    };

    explicit BoundedQueue(size_t capacity) : capacity_(capacity > 0 ? capacity : 1) {}

    /// Blocks while full. Returns false when the queue was closed (the item is dropped).
    bool push(T item) {
        std::unique_lock<std::mutex> lk(m_);
        not_full_.wait(lk, [&] { return items_.size() < capacity_ || closed_ || aborted_; });
        throw_if_aborted();
        if (closed_) return false;
        items_.push_back(std::move(item));
        not_empty_.notify_one();
        return true;
    }

    /// Blocks while empty and open. Returns false when closed and drained.
    bool pop(T& item) {
        std::unique_lock<std::mutex> lk(m_);
        not_empty_.wait(lk, [&] { return !items_.empty() || closed_ || aborted_; });
        throw_if_aborted();
        if (items_.empty()) return false;
        item = std::move(items_.front());
        items_.pop_front();
        not_full_.notify_one();
        return true;
    }

    /// No more items will come; consumers drain what is queued.
    void close() {
        std::lock_guard<std::mutex> lk(m_);
        closed_ = true;
        not_empty_.notify_all();
        not_full_.notify_all();
    }

    /// Stop both sides now: queued items are dropped and every push()/pop() rethrows `error` (Cancelled when
    /// null). The first abort's error is kept.
    void abort(std::exception_ptr error = nullptr) {
        std::lock_guard<std::mutex> lk(m_);
        if (!aborted_) error_ = error;
        aborted_ = true;
        items_.clear();
        not_empty_.notify_all();
        not_full_.notify_all();
    }

    size_t capacity() const { return capacity_; }

private:
    void throw_if_aborted() const {
        if (!aborted_) return;
        if (error_) std::rethrow_exception(error_);
        throw Cancelled();
    }

    const size_t capacity_;
    std::mutex m_;
    std::condition_variable not_empty_, not_full_;
    std::deque<T> items_;
    bool closed_ = false, aborted_ = false;
    std::exception_ptr error_;
};

}  // namespace ned
