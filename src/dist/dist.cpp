#include "ned/dist/dist.hpp"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/version.h>
#include <c10/util/Logging.h>
#ifdef NED_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <algorithm>
#include <atomic>
#include <exception>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <regex>
#include <thread>

#include "ned/core/error.hpp"
#include "ned/core/fault.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/core/log.hpp"

namespace ned::dist {

namespace {
std::string get(const std::map<std::string, std::string>& vars, const char* key) {
    auto it = vars.find(key);
    return it == vars.end() ? std::string() : it->second;
}

int to_int(const std::string& s, const char* key) {
    try {
        size_t used = 0;
        const long v = std::stol(s, &used);
        if (used != s.size() || v < 0 || v > 1000000) throw std::invalid_argument(key);
        return static_cast<int>(v);
    } catch (const std::exception&) {
        throw InputError(cat("environment variable ", key, "='", s, "' is not a number >= 0"));
    }
}
}  // namespace

void quiet_backend_logs(bool quiet) {
    // c10's logger drops messages below FLAGS_caffe2_log_level (without glog: c10::MessageLogger; with glog, as
    // Debian's LibTorch 1.13: UpdateLoggingLevelsFromFlags passes it on to glog's minloglevel), and c10d checks it
    // before each of its own lines. (LibTorch reads TORCH_CPP_LOG_LEVEL into the same flag: Context::create does
    // not call this when Options::user_log_level says the user chose the level.)
    static const int initial = FLAGS_caffe2_log_level;
    FLAGS_caffe2_log_level = quiet ? std::max(initial, 3 /* FATAL */) : initial;
#ifdef C10_USE_GLOG
    // glog's own threshold (UpdateLoggingLevelsFromFlags only ever lowers it)
    static const int glog_initial = FLAGS_minloglevel;
    FLAGS_minloglevel = quiet ? std::max(glog_initial, 3) : glog_initial;
#endif
    c10::UpdateLoggingLevelsFromFlags();
}

std::string first_line(const std::exception& e) {
    const auto* c10e = dynamic_cast<const c10::Error*>(&e);
    std::string s = c10e ? c10e->what_without_backtrace() : e.what();
    s = s.substr(0, s.find('\n'));
    while (!s.empty() && (s.back() == ' ' || s.back() == '\r')) s.pop_back();
    return s;
}

std::string first_host(const std::string& nodelist) {
    // "prefix[03-05,09]suffix,other" -> "prefix03suffix"; "a,b" -> "a"
    size_t depth = 0, end = nodelist.size();
    for (size_t i = 0; i < nodelist.size(); ++i) {
        if (nodelist[i] == '[') ++depth;
        if (nodelist[i] == ']' && depth) --depth;
        if (nodelist[i] == ',' && depth == 0) {
            end = i;
            break;
        }
    }
    const std::string first = nodelist.substr(0, end);
    const auto lb = first.find('[');
    if (lb == std::string::npos) return first;
    const auto rb = first.find(']', lb);
    if (rb == std::string::npos) throw InputError(cat("SLURM_JOB_NODELIST '", nodelist, "': unbalanced '['"));
    std::string range = first.substr(lb + 1, rb - lb - 1);
    range = range.substr(0, range.find(','));
    range = range.substr(0, range.find('-'));
    return first.substr(0, lb) + range + first.substr(rb + 1);
}

const std::vector<std::string>& rendezvous_variables() {
    static const std::vector<std::string> names{"WORLD_SIZE",         "RANK",          "LOCAL_RANK",   "MASTER_ADDR",
                                                "MASTER_PORT",        "SLURM_NTASKS",  "SLURM_PROCID", "SLURM_LOCALID",
                                                "SLURM_JOB_NODELIST", "SLURM_NODELIST"};
    return names;
}

Env detect_env(const std::map<std::string, std::string>& vars) {
    Env e;
    const std::string ws = get(vars, "WORLD_SIZE"), nt = get(vars, "SLURM_NTASKS");
    if (!ws.empty()) {
        e.source = "torchrun";
        e.world = to_int(ws, "WORLD_SIZE");
        e.rank = to_int(get(vars, "RANK").empty() ? "0" : get(vars, "RANK"), "RANK");
        const std::string lr = get(vars, "LOCAL_RANK");
        e.local_rank = lr.empty() ? e.rank : to_int(lr, "LOCAL_RANK");
        if (!get(vars, "MASTER_ADDR").empty()) e.master_addr = get(vars, "MASTER_ADDR");
    } else if (!nt.empty()) {
        e.source = "slurm";
        e.world = to_int(nt, "SLURM_NTASKS");
        e.rank = to_int(get(vars, "SLURM_PROCID").empty() ? "0" : get(vars, "SLURM_PROCID"), "SLURM_PROCID");
        const std::string lr = get(vars, "SLURM_LOCALID");
        e.local_rank = lr.empty() ? 0 : to_int(lr, "SLURM_LOCALID");
        if (!get(vars, "MASTER_ADDR").empty())
            e.master_addr = get(vars, "MASTER_ADDR");
        else if (!get(vars, "SLURM_JOB_NODELIST").empty())
            e.master_addr = first_host(get(vars, "SLURM_JOB_NODELIST"));
        else if (!get(vars, "SLURM_NODELIST").empty())
            e.master_addr = first_host(get(vars, "SLURM_NODELIST"));
    }
    if (!get(vars, "MASTER_PORT").empty()) e.master_port = to_int(get(vars, "MASTER_PORT"), "MASTER_PORT");
    if (e.world < 1) throw InputError(cat("world size must be >= 1 (", e.source, "), got ", e.world));
    if (e.rank >= e.world)
        throw InputError(cat("rank ", e.rank, " is outside 0..", e.world - 1, " (", e.source, " environment)"));
    if (e.master_port < 1 || e.master_port > 65535)
        throw InputError(cat("MASTER_PORT ", e.master_port, " out of range"));
    if (e.world == 1) e.source = "single";
    return e;
}

// LibTorch 2.x splits a process group into c10d::ProcessGroup (the front end) and c10d::Backend (Gloo, NCCL);
// ned drives the backend directly. LibTorch 1.13 (Debian) has only ProcessGroup.
#if TORCH_VERSION_MAJOR >= 2
using BackendPtr = c10::intrusive_ptr<c10d::Backend>;
#else
using BackendPtr = c10::intrusive_ptr<c10d::ProcessGroup>;
#endif

/// Which ranks stopped? Their heartbeat counters do not move over ~2.5 s: "1" or "1, 3"; "" when every one moves.
static std::string stopped_ranks(c10d::TCPStore& hb, int rank, int world) {
    std::string culprits;
    try {
        std::vector<int64_t> before(world);
        for (int r = 0; r < world; ++r) before[r] = hb.add(cat("ned/hb/", r), 0);
        std::this_thread::sleep_for(std::chrono::milliseconds(2500));
        for (int r = 0; r < world; ++r)
            if (r != rank && hb.add(cat("ned/hb/", r), 0) == before[r])
                culprits += cat(culprits.empty() ? "" : ", ", r);
    } catch (const std::exception&) {
        culprits = rank == 0 ? "?" : "0 (it hosts the rendezvous store)";
    }
    return culprits;
}

/// How long a rank's heartbeat may stand still before the others stop (at most --dist-timeout).
constexpr std::chrono::milliseconds kWatchdog{10000};

struct Context::Impl {
    c10::intrusive_ptr<c10d::TCPStore> store;
    BackendPtr pg;
    torch::Device device{torch::kCPU};
    Options opts;
    std::atomic<bool> stop{false};
    std::atomic<bool> failing{false};  ///< a collective failed: the main thread reports it (the watchdog stays quiet)
    std::thread heartbeat;
    c10::intrusive_ptr<c10d::TCPStore> hb_store;  // own connection: the store client is not thread-safe

    void rendezvous(const Env& env, const Options& options);
    static void watch(const std::shared_ptr<Impl>& raw, int rank, int world, std::chrono::milliseconds window);
    bool agree_on_nccl(const Env& env, const Options& options, const torch::Device& device);
    void connect(const Env& env, const Options& options, bool nccl, const std::string& backend);
};

/// Opens the store (rank 0 hosts it) and the heartbeat's own connection, then waits until every rank arrived.
void Context::Impl::rendezvous(const Env& env, const Options& options) {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(env.master_port);
    so.isServer = env.rank == 0;
    so.numWorkers = env.world;
    so.waitWorkers = false;  // LibTorch 1.13's server wait ignores the timeout: wait below, bounded
    so.timeout = options.timeout;
    NED_LOG_INFO("[dist] rank {}/{} ({}), rendezvous at {}:{}", env.rank, env.world, env.source, env.master_addr,
                 env.master_port);
    try {
        fault_point("dist.rendezvous");
        store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
        c10d::TCPStoreOptions hb = so;
        hb.isServer = false;
        hb.numWorkers = c10::nullopt;
        hb.waitWorkers = false;
        hb.timeout = std::min<std::chrono::milliseconds>(options.timeout, std::chrono::milliseconds(10000));
        hb_store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, hb);
        store->set(cat("ned/arrived/", env.rank), std::vector<uint8_t>{1});
        store->add("ned/joined", 1);
        const auto deadline = std::chrono::steady_clock::now() + options.timeout;
        int64_t joined = 0;
        while ((joined = store->add("ned/joined", 0)) < env.world) {
            if (std::chrono::steady_clock::now() > deadline) {
                std::string missing;
                for (int r = 0; r < env.world; ++r)
                    if (!store->check({cat("ned/arrived/", r)})) missing += cat(missing.empty() ? "" : ", ", r);
                throw std::runtime_error(cat(joined, " of ", env.world, " ranks arrived; rank ", missing,
                                             " never did (not started, or dead)"));
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    } catch (const std::exception& e) {
        throw Error(cat("[dist] rank ", env.rank, ": rendezvous at ", env.master_addr, ":", env.master_port,
                        " failed within ", options.timeout.count() / 1000.0, " s (", first_line(e),
                        "); check MASTER_ADDR/MASTER_PORT and that every rank was started"));
    }
}

/// The heartbeat thread's loop (see Context::create): bumps this rank's counter about once a second and stops the
/// process when another rank's counter stood still for `window` (or the store was unreachable that long).
void Context::Impl::watch(const std::shared_ptr<Impl>& raw, int rank, int world, std::chrono::milliseconds window) {
    using Clock = std::chrono::steady_clock;
    const std::string key = cat("ned/hb/", rank);
    std::vector<int64_t> seen(world, -1);
    std::vector<Clock::time_point> moved(world, Clock::now());
    Clock::time_point store_ok = Clock::now();
    while (!raw->stop.load()) {
        std::string dead;
        try {
            raw->hb_store->add(key, 1);
            for (int r = 0; r < world; ++r) {
                if (r == rank) continue;
                const int64_t n = raw->hb_store->add(cat("ned/hb/", r), 0);
                if (n != seen[r]) {
                    seen[r] = n;
                    moved[r] = Clock::now();
                } else if (Clock::now() - moved[r] > window && !raw->hb_store->check({cat("ned/finished/", r)})) {
                    dead = cat("rank ", r, " stopped responding (no heartbeat for ",
                               std::chrono::duration_cast<std::chrono::seconds>(window).count(), " s)");
                    break;
                }
            }
            store_ok = Clock::now();
        } catch (const std::exception&) {
            if (Clock::now() - store_ok > window) dead = "rank 0 stopped responding (it hosts the rendezvous store)";
        }
        if (!dead.empty() && !raw->stop.load() && !raw->failing.load())
            exit_now(cat("ned: error: [dist] rank ", rank, ": ", dead, "; the job stops. Resume it with --resume."), 1);
        for (int i = 0; i < 10 && !raw->stop.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

/// Backend: auto = NCCL when this rank has a GPU and LibTorch has NCCL; every rank must agree, so the choice is
/// agreed through the store (a rank without a GPU forces Gloo for all). True: NCCL.
bool Context::Impl::agree_on_nccl(const Env& env, const Options& options, const torch::Device& device) {
    bool want_nccl = options.backend == Backend::Nccl;
#ifdef NED_WITH_NCCL
    const bool can_nccl = device.is_cuda();
#else
    const bool can_nccl = false;
#endif
    if (want_nccl && !can_nccl)
        throw OptionError("Options::backend", cat(" nccl: ", device.is_cuda() ? "this LibTorch was built without NCCL"
                                                                              : "this rank has no GPU"));
    if (options.backend == Backend::Auto) {
        store->add("ned/no_nccl", can_nccl ? 0 : 1);
        store->add("ned/backend_votes", 1);
        // wait until every rank voted (all of them have joined, so this is quick)
        const auto deadline = std::chrono::steady_clock::now() + options.timeout;
        while (store->add("ned/backend_votes", 0) < env.world) {
            if (std::chrono::steady_clock::now() > deadline)
                throw Error("[dist] ranks did not agree on a backend in time");
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        want_nccl = store->add("ned/no_nccl", 0) == 0;
    }
    return want_nccl;
}

/// Creates the process group (`backend`: "nccl" or "gloo", for the message) over the store.
void Context::Impl::connect(const Env& env, const Options& options, bool nccl, const std::string& backend) {
    fault_point("dist.process_group");
    auto prefix = c10::make_intrusive<c10d::PrefixStore>("pg", store);
    try {
#ifdef NED_WITH_NCCL
        if (nccl) {
            auto o = c10d::ProcessGroupNCCL::Options::create();
            o->timeout = options.timeout;
            pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefix, env.rank, env.world, o);
        }
#endif
        if (!nccl) {
            auto o = c10d::ProcessGroupGloo::Options::create(options.timeout);
            // the interface Gloo binds to: Options::gloo_interface (GLOO_SOCKET_IFNAME, as in PyTorch), loopback
            // for a local job, else the address this host's name resolves to
            if (!options.gloo_interface.empty())
                o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(options.gloo_interface));
            else if (env.master_addr == "localhost" || env.master_addr.rfind("127.", 0) == 0)
                o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
            else
                o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
            o->threads = 2;
            pg = c10::make_intrusive<c10d::ProcessGroupGloo>(prefix, env.rank, env.world, o);
        }
    } catch (const std::exception& e) {
        failing = true;  // reported here, not by the watchdog
        const std::string culprits = stopped_ranks(*hb_store, env.rank, env.world);
        throw Error(cat("[dist] rank ", env.rank, ": connecting the ranks (", backend, ") failed within ",
                        options.timeout.count() / 1000.0, " s: ",
                        culprits.empty() ? std::string("no rank stopped its heartbeat (a rank may hang)")
                                         : cat("rank ", culprits, " stopped responding"),
                        " (", first_line(e), "); the job stops"));
    }
}

const char* backend_name(Backend b) {
    switch (b) {
        case Backend::Gloo: return "gloo";
        case Backend::Nccl: return "nccl";
        default: return "auto";
    }
}

void Options::validate() const {
    if (!(timeout.count() > 0))
        throw OptionError("Options::timeout", cat(" must be > 0 ms (got ", timeout.count(), " ms)"));
}

std::shared_ptr<Context> Context::single() { return std::shared_ptr<Context>(new Context()); }

std::shared_ptr<Context> Context::create(const Env& env, const Options& options, const torch::Device& device) {
    auto ctx = std::shared_ptr<Context>(new Context());
    ctx->env_ = env;
    if (!env.distributed()) return ctx;
    options.validate();
    // (SIGPIPE is the caller's: header.) c10d and Gloo log a missing peer themselves ("[W socket.cpp...] [c10d]
    // ..."), beside ned's one error line
    if (!options.user_log_level) quiet_backend_logs(!options.backend_logs);
    auto impl = std::make_shared<Impl>();
    impl->opts = options;
    impl->device = device;
    impl->rendezvous(env, options);
    // Heartbeat and watchdog: a counter per rank, bumped about once a second, and the others' counters read at
    // the same time. A rank whose counter has not moved for kWatchdog (or the store host, rank 0, unreachable that
    // long) while it has not finished makes this process stop at once, whatever its main thread is doing
    // (preparing data, validating, writing a checkpoint, waiting in a collective with a long --dist-timeout): one
    // line naming the rank, exit 1, temporary outputs removed, finished checkpoints kept (resumable). The thread
    // shares the state, so that after a failure it can be detached instead of joined.
    const auto window = std::min<std::chrono::milliseconds>(options.timeout, kWatchdog);
    impl->heartbeat = std::thread(&Impl::watch, impl, env.rank, env.world, window);
    // Until the context owns it, a failure below stops the heartbeat thread (a joinable thread must not be destroyed).
    struct StopOnThrow {
        std::shared_ptr<Impl> impl;
        bool armed = true;
        ~StopOnThrow() {
            if (!armed) return;
            impl->stop = true;
            if (impl->heartbeat.joinable()) impl->heartbeat.detach();
        }
    } stop_on_throw{impl};
    const bool nccl = impl->agree_on_nccl(env, options, device);
    ctx->backend_ = nccl ? "nccl" : "gloo";
    impl->connect(env, options, nccl, ctx->backend_);
    stop_on_throw.armed = false;
    ctx->impl_ = std::move(impl);
    NED_LOG_INFO("[dist] rank {}/{}: process group ready ({})", env.rank, env.world, ctx->backend_);
    return ctx;
}

Context::~Context() {
    if (!impl_) return;
    // A rank that ends normally says so, so that the others' watchdogs do not take its silence for a death; one
    // that ends by an exception does not, so that the others stop too.
    if (!failed_ && std::uncaught_exceptions() == 0) {
        try {
            impl_->hb_store->set(cat("ned/finished/", env_.rank), std::vector<uint8_t>{1});
        } catch (const std::exception&) {}
    }
    impl_->stop = true;
    if (impl_->heartbeat.joinable()) {
        if (failed_)
            impl_->heartbeat.detach();
        else
            impl_->heartbeat.join();
    }
}

void Context::fail(const std::string& what, const std::exception& e) {
    failed_ = true;
    impl_->failing = true;
    const std::string culprits = stopped_ranks(*impl_->hb_store, env_.rank, env_.world);
    const std::string first = first_line(e);
    throw Error(cat("[dist] rank ", env_.rank, ": ", what, " failed: ",
                    culprits.empty() ? std::string("no rank stopped its heartbeat (a rank may hang)")
                                     : cat("rank ", culprits, " stopped responding"),
                    " (", first, "); the job stops. Resume it with --resume."));
}

void Context::run(const std::string& what, const std::function<void()>& op) {
    try {
        op();
    } catch (const Error&) {
        throw;
    } catch (const std::exception& e) {
        fail(what, e);
    }
}

void Context::broadcast(std::vector<torch::Tensor> tensors) {
    if (!impl_) return;
    run("broadcast", [&] {
        torch::NoGradGuard ng;
        for (auto& t : tensors) {
            std::vector<at::Tensor> v{
                t.is_contiguous() && t.device() == impl_->device ? t : t.contiguous().to(impl_->device)};
            c10d::BroadcastOptions o;
            o.rootRank = 0;
            o.timeout = impl_->opts.timeout;
            impl_->pg->broadcast(v, o)->wait(impl_->opts.timeout);
            if (!v[0].is_same(t)) t.copy_(v[0]);
        }
    });
}

void Context::average_gradients(const std::vector<torch::Tensor>& params, std::vector<double>* scalars) {
    if (!impl_) return;
    torch::NoGradGuard ng;
    std::vector<torch::Tensor> grads;
    for (const auto& p : params)
        if (p.grad().defined()) grads.push_back(p.grad());
    const double inv = 1.0 / env_.world;
    auto reduce = [&](std::vector<torch::Tensor>& bucket, bool with_scalars) {
        std::vector<torch::Tensor> flat;
        for (auto& g : bucket) flat.push_back(g.reshape({-1}).to(torch::kFloat32));
        if (with_scalars && scalars && !scalars->empty())
            flat.push_back(torch::tensor(std::vector<float>(scalars->begin(), scalars->end()))
                               .to(torch::TensorOptions().dtype(torch::kFloat32).device(impl_->device)));
        std::vector<at::Tensor> buf{torch::cat(flat).to(impl_->device)};
        c10d::AllreduceOptions o;
        o.timeout = impl_->opts.timeout;
        run("gradient all-reduce", [&] { impl_->pg->allreduce(buf, o)->wait(impl_->opts.timeout); });
        buf[0].mul_(inv);
        int64_t off = 0;
        for (auto& g : bucket) {
            g.copy_(buf[0].slice(0, off, off + g.numel()).view_as(g));
            off += g.numel();
        }
        if (with_scalars && scalars)
            for (auto& s : *scalars) s = buf[0][off++].item<double>();
    };
    std::vector<torch::Tensor> bucket;
    size_t bytes = 0;
    for (size_t i = 0; i < grads.size(); ++i) {
        bucket.push_back(grads[i]);
        bytes += grads[i].numel() * sizeof(float);
        const bool last = i + 1 == grads.size();
        if (bytes >= impl_->opts.bucket_bytes || last) {
            reduce(bucket, last);
            bucket.clear();
            bytes = 0;
        }
    }
    if (grads.empty() && scalars && !scalars->empty()) reduce(bucket, true);
}

double Context::sum(double v) {
    if (!impl_) return v;
    std::vector<at::Tensor> buf{torch::tensor({v}, torch::TensorOptions().dtype(torch::kFloat64)).to(impl_->device)};
    if (impl_->device.is_cuda()) buf[0] = buf[0].to(torch::kFloat32);
    c10d::AllreduceOptions o;
    o.timeout = impl_->opts.timeout;
    run("all-reduce", [&] { impl_->pg->allreduce(buf, o)->wait(impl_->opts.timeout); });
    return buf[0].item<double>();
}

void Context::barrier() {
    if (!impl_) return;
    // a tiny all-reduce: bounded by the timeout like every collective (Gloo's barrier is too)
    sum(0.0);
}

void Context::main_done(const std::string& key) {
    if (!impl_ || env_.rank != 0) return;
    run("store", [&] { impl_->store->set(cat("ned/done/", key), std::vector<uint8_t>{1}); });
}

void Context::wait_for_main(const std::string& key) {
    if (!impl_ || env_.rank == 0) return;
    const std::string k = cat("ned/done/", key);
    for (;;) {
        bool ok = false;
        try {
            ok = impl_->store->check({k});
        } catch (const std::exception& e) {
            failed_ = true;
            const std::string first = first_line(e);
            throw Error(cat("[dist] rank ", env_.rank, ": waiting for rank 0 (", key,
                            ") failed: rank 0 stopped responding (", first,
                            "); the job stops. Resume it with --resume."));
        }
        if (ok) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
}

// ---------------------------------------------------------------------------------------------------------
struct GradReducer::Impl {
    struct Slot {
        size_t param, bucket;
        int64_t offset, numel;
    };
    struct Bucket {
        torch::Tensor flat;  // float32 on the collective device
        std::vector<size_t> slots;
        size_t pending = 0;
        c10::intrusive_ptr<c10d::Work> work;
    };
    std::vector<torch::Tensor> params;
    std::vector<Slot> slots;  // per parameter
    std::vector<bool> arrived;
    std::vector<Bucket> buckets;
    std::vector<unsigned> hooks;
    size_t next_launch = 0;
    bool armed = false;
    GradReducer::Stats stats;
    int64_t repeated = 0;  // gradients of a parameter that had already arrived in this step
    double weight = 1;
    std::mutex mutex;
    std::exception_ptr error;  // from a launch inside a hook, raised in finish()
    Context* ctx = nullptr;

    void launch_ready(bool in_finish) {  // in bucket order only (the same collectives in the same order on every rank)
        while (next_launch < buckets.size() && buckets[next_launch].pending == 0) {
            Bucket& b = buckets[next_launch++];
            ++(in_finish ? stats.launched_in_finish : stats.launched_in_backward);
            try {
                std::vector<at::Tensor> v{b.flat};
                c10d::AllreduceOptions o;
                o.timeout = ctx->impl_->opts.timeout;
                b.work = ctx->impl_->pg->allreduce(v, o);
            } catch (...) {
                if (!error) error = std::current_exception();
            }
        }
    }
    void on_grad(size_t i, const torch::Tensor& g) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!armed) {
            ++stats.ignored_hooks;
            return;
        }
        if (arrived[i]) {  // a second backward pass in one step: its gradient would be lost; finish() reports it
            ++repeated;
            return;
        }
        const Slot& s = slots[i];
        Bucket& b = buckets[s.bucket];
        torch::NoGradGuard ng;
        auto dst = b.flat.slice(0, s.offset, s.offset + s.numel);
        dst.copy_(g.reshape({-1}));
        if (weight != 1) dst.mul_(weight);
        arrived[i] = true;
        if (--b.pending == 0) launch_ready(false);
    }
};

GradReducer::GradReducer(std::shared_ptr<Context> ctx, std::vector<torch::Tensor> params)
    : ctx_(std::move(ctx)), impl_(std::make_unique<Impl>()) {
    impl_->params = std::move(params);
    impl_->ctx = ctx_.get();
    if (!ctx_->impl_) return;
    const size_t n = impl_->params.size();
    impl_->slots.resize(n);
    impl_->arrived.assign(n, false);
    const size_t limit = ctx_->impl_->opts.bucket_bytes;
    // reverse registration order: the last layers' gradients are computed first in the backward pass
    std::vector<size_t> cur;
    int64_t elems = 0;
    auto close = [&] {
        if (cur.empty()) return;
        Impl::Bucket b;
        b.flat = torch::zeros({elems}, torch::TensorOptions().dtype(torch::kFloat32).device(ctx_->impl_->device));
        b.slots = cur;
        impl_->buckets.push_back(std::move(b));
        cur.clear();
        elems = 0;
    };
    for (size_t k = n; k-- > 0;) {
        const auto& p = impl_->params[k];
        impl_->slots[k] = {k, impl_->buckets.size(), elems, p.numel()};
        cur.push_back(k);
        elems += p.numel();
        if (static_cast<size_t>(elems) * sizeof(float) >= limit) close();
    }
    close();
    Impl* raw = impl_.get();
    for (size_t k = 0; k < n; ++k) {
        NED_CHECK(impl_->params[k].requires_grad(), "GradReducer: parameter ", k, " does not require a gradient");
        impl_->hooks.push_back(
            impl_->params[k].register_hook([raw, k](const torch::Tensor& g) { raw->on_grad(k, g); }));
    }
}

GradReducer::~GradReducer() {
    for (size_t k = 0; k < impl_->hooks.size(); ++k) {
        try {
            impl_->params[k].remove_hook(impl_->hooks[k]);
        } catch (const std::exception&) {}
    }
}

size_t GradReducer::buckets() const { return impl_->buckets.size(); }

GradReducer::Stats GradReducer::stats() const {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    return impl_->stats;
}

void GradReducer::prepare(double weight) {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->weight = weight;
    if (!ctx_->impl_) return;
    impl_->armed = true;
    impl_->next_launch = 0;
    impl_->repeated = 0;
    impl_->error = nullptr;
    std::fill(impl_->arrived.begin(), impl_->arrived.end(), false);
    for (auto& b : impl_->buckets) {
        b.pending = b.slots.size();
        b.work.reset();
    }
}

void GradReducer::finish(std::vector<double>* scalars) {
    torch::NoGradGuard ng;
    if (!ctx_->impl_) {
        if (impl_->weight != 1) {
            for (auto& p : impl_->params)
                if (p.grad().defined()) p.mutable_grad().mul_(impl_->weight);
            if (scalars)
                for (auto& s : *scalars) s *= impl_->weight;
        }
        return;
    }
    {
        std::lock_guard<std::mutex> lock(impl_->mutex);
        NED_CHECK(impl_->armed, "GradReducer::finish without prepare");
        impl_->armed = false;
        // parameters without a gradient on this rank count as zero; launch the rest in bucket order
        for (size_t k = 0; k < impl_->params.size(); ++k)
            if (!impl_->arrived[k]) {
                const auto& s = impl_->slots[k];
                auto& b = impl_->buckets[s.bucket];
                b.flat.slice(0, s.offset, s.offset + s.numel).zero_();
                impl_->arrived[k] = true;
                --b.pending;
            }
        impl_->launch_ready(true);
        ++impl_->stats.steps;
    }
    const auto timeout = ctx_->impl_->opts.timeout;
    ctx_->run("gradient all-reduce", [&] {
        if (impl_->error) std::rethrow_exception(impl_->error);
        for (auto& b : impl_->buckets) b.work->wait(timeout);
    });
    // after the waits, so that this rank's collectives match the others' before the (programming) error
    NED_CHECK(impl_->repeated == 0, "GradReducer: ", impl_->repeated,
              " parameter gradients arrived twice in one step (two backward passes between prepare and finish); "
              "the reducer sums one backward pass per step");
    for (auto& b : impl_->buckets)
        for (size_t k : b.slots) {
            const auto& s = impl_->slots[k];
            auto& p = impl_->params[k];
            const auto src = b.flat.slice(0, s.offset, s.offset + s.numel).view(p.sizes());
            if (!p.grad().defined())
                p.mutable_grad() = src.to(p.device(), p.scalar_type()).clone();
            else
                p.mutable_grad().copy_(src);
        }
    if (scalars && !scalars->empty()) {
        std::vector<at::Tensor> buf{
            torch::tensor(std::vector<double>(scalars->begin(), scalars->end()), torch::kFloat64).mul_(impl_->weight)};
        if (ctx_->impl_->device.is_cuda()) buf[0] = buf[0].to(ctx_->impl_->device, torch::kFloat32);
        c10d::AllreduceOptions o;
        o.timeout = timeout;
        ctx_->run("all-reduce", [&] { ctx_->impl_->pg->allreduce(buf, o)->wait(timeout); });
        const auto c = buf[0].to(torch::kCPU, torch::kFloat64);
        for (size_t i = 0; i < scalars->size(); ++i) (*scalars)[i] = c[static_cast<int64_t>(i)].item<double>();
    }
}

}  // namespace ned::dist
