// BoundedQueue: order, the capacity bound, close() draining, abort() from either side.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "ned/core/bounded_queue.hpp"

using ned::BoundedQueue;

TEST(BoundedQueue, KeepsOrderAndNeverHoldsMoreThanItsCapacity) {
    BoundedQueue<int> q(3);
    std::atomic<int> pushed{0};
    std::thread producer([&] {
        for (int i = 0; i < 100; ++i) {
            q.push(i);
            ++pushed;
        }
        q.close();
    });
    std::vector<int> got;
    int v = 0;
    // The consumer is slow at first: the producer must stop at the capacity.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_LE(pushed.load(), 3);
    while (q.pop(v)) got.push_back(v);
    producer.join();
    ASSERT_EQ(got.size(), 100u);
    for (int i = 0; i < 100; ++i) EXPECT_EQ(got[i], i);
}

TEST(BoundedQueue, CloseLetsTheConsumerDrainThenEnds) {
    BoundedQueue<int> q(4);
    q.push(1);
    q.push(2);
    q.close();
    EXPECT_FALSE(q.push(3));  // dropped after close
    int v = 0;
    ASSERT_TRUE(q.pop(v));
    EXPECT_EQ(v, 1);
    ASSERT_TRUE(q.pop(v));
    EXPECT_EQ(v, 2);
    EXPECT_FALSE(q.pop(v));
}

TEST(BoundedQueue, AbortWakesABlockedProducerAndConsumerWithTheError) {
    BoundedQueue<int> full(1), empty(1);
    full.push(0);
    std::atomic<int> caught{0};
    std::thread producer([&] {
        try {
            full.push(1);  // blocks: full
        } catch (const std::runtime_error& e) {
            if (std::string(e.what()) == "decoder failed") ++caught;
        }
    });
    std::thread consumer([&] {
        int v;
        try {
            empty.pop(v);  // blocks: empty
        } catch (const std::runtime_error& e) {
            if (std::string(e.what()) == "decoder failed") ++caught;
        }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const auto err = std::make_exception_ptr(std::runtime_error("decoder failed"));
    full.abort(err);
    empty.abort(err);
    producer.join();
    consumer.join();
    EXPECT_EQ(caught.load(), 2);
    // The first error is kept; queued items are dropped; without an error it is Cancelled.
    full.abort(std::make_exception_ptr(std::runtime_error("other")));
    int v;
    EXPECT_THROW(
        {
            try {
                full.pop(v);
            } catch (const std::runtime_error& e) {
                EXPECT_STREQ(e.what(), "decoder failed");
                throw;
            }
        },
        std::runtime_error);
    BoundedQueue<int> q(2);
    q.push(7);
    q.abort();
    EXPECT_THROW(q.pop(v), BoundedQueue<int>::Cancelled);
}
