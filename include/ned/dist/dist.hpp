#pragma once
// Data-parallel training over PyTorch's c10d process groups (Gloo on CPUs, NCCL between GPUs when LibTorch
// has it): rendezvous from the environment that launchers set, identical initial weights, bucketed gradient
// averaging, and failure detection that names the rank that died or hangs.
//
// Rendezvous (detect_env), first match wins:
//   torchrun / scripts/launch_local.sh: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT
//   Slurm (srun, one task per GPU):      SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, the first host of
//                                        SLURM_JOB_NODELIST (or MASTER_ADDR), MASTER_PORT (default 29500)
//   otherwise (or WORLD_SIZE/SLURM_NTASKS = 1): a single process, no process group.
// Rank 0 hosts the TCPStore; every collective and store call is bounded by Options::timeout.
//
// Failure detection: every rank bumps a heartbeat counter in the store about once a second from a
// background thread. When a collective fails or times out, the rank reads the other heartbeats and names
// the ranks whose counter stopped ("rank 1 stopped responding"), then throws ned::Error (exit code 1).
#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ned::dist {

/// Where this process sits in the job.
struct Env {
    int rank = 0, world = 1, local_rank = 0;
    std::string master_addr = "127.0.0.1";
    int master_port = 29500;
    std::string source = "single";  ///< "torchrun", "slurm" or "single"
    bool distributed() const { return world > 1; }
};

/// The environment variables detect_env reads (the caller reads them: the library never calls getenv).
const std::vector<std::string>& rendezvous_variables();
/// Where this process sits, from the values of rendezvous_variables() (`ned` passes the process environment, read
/// in src/cli/environment.cpp; a variable that is absent or empty counts as unset). Throws InputError for
/// inconsistent values (rank outside 0..world-1, a non-numeric port, ...).
Env detect_env(const std::map<std::string, std::string>& vars);
/// First host of a Slurm node list: "gpu[03-05,09],cpu1" -> "gpu03", "node7" -> "node7".
std::string first_host(const std::string& nodelist);

/// Collective backend: auto (NCCL when every rank has a GPU, else Gloo), gloo or nccl.
enum class Backend { Auto, Gloo, Nccl };
/// "auto" | "gloo" | "nccl".
const char* backend_name(Backend b);

struct Options {
    Backend backend = Backend::Auto;
    std::chrono::milliseconds timeout{300000};  ///< bound of every collective and store call
    size_t bucket_bytes = 25u << 20;            ///< gradient all-reduce bucket size (as DDP's default)
    /// Let LibTorch's own c10d/Gloo log lines ("[W socket.cpp...] [c10d] ...") through to stderr. Off (the
    /// default), c10's log level is raised to FATAL when the process group is created, so that a missing peer
    /// is reported by ned's one error line only (the CLI turns them on with -v).
    bool backend_logs = false;
    /// The user chose c10's log level (TORCH_CPP_LOG_LEVEL is set; LibTorch reads it itself): backend_logs is
    /// ignored and the level left alone. The caller reads the variable.
    bool user_log_level = false;
    /// Network interface Gloo binds to (the caller passes GLOO_SOCKET_IFNAME, as PyTorch reads it); empty:
    /// loopback for a job on localhost / 127.x, else the address this host's name resolves to.
    std::string gloo_interface;

    /// timeout > 0: OptionError (exit 2) naming the field and the value. Context::create calls it.
    void validate() const;
};

/// Raise (quiet = true) or restore c10's log level (FLAGS_caffe2_log_level: FATAL, or WARNING, c10's default):
/// c10d's and Gloo's warnings and errors are printed by c10's logger, which ignores ned's log level.
void quiet_backend_logs(bool quiet);
/// The first line of an exception's message without LibTorch's C++ backtrace (c10::Error::what() appends
/// "Exception raised from ... frame #0 ...").
std::string first_line(const std::exception& e);

/// One process's view of the job. With world == 1 every call is a no-op (returns its input).
class GradReducer;

class Context {
public:
    /// Rendezvous and create the process group. `device` is where the tensors of collectives live (the
    /// LOCAL_RANK GPU with NCCL). Throws ned::Error naming the address when the rendezvous times out.
    /// Process-wide settings are the caller's: a peer that dies closes its sockets, and writing to them must fail
    /// with EPIPE (which the collectives turn into an error naming the rank), so a program that creates a
    /// distributed context ignores SIGPIPE first (`ned` does, in src/cli/environment.cpp; else a dead peer kills
    /// this process with SIGPIPE, exit 141, no message).
    static std::shared_ptr<Context> create(const Env& env, const Options& options, const torch::Device& device);
    /// A single-process context (no process group).
    static std::shared_ptr<Context> single();
    ~Context();

    int rank() const { return env_.rank; }
    int world() const { return env_.world; }
    bool is_main() const { return env_.rank == 0; }
    const Env& env() const { return env_; }
    const std::string& backend() const { return backend_; }

    /// Copy rank 0's values into every rank's tensors (in place).
    void broadcast(std::vector<torch::Tensor> tensors);
    /// Average the .grad() of `params` over the ranks (in place), packed into flat buckets of at most
    /// bucket_bytes, and the `scalars` with them (e.g. the loss values, so that every rank sees the same mean
    /// and takes the same decision). Parameters without a gradient are skipped on every rank alike (their
    /// grad-definedness must agree across ranks).
    void average_gradients(const std::vector<torch::Tensor>& params, std::vector<double>* scalars = nullptr);
    /// Sum of `v` over the ranks.
    double sum(double v);
    void barrier();

    /// Non-zero ranks wait until rank 0 calls done(key) (e.g. after preparing files on a shared disk): no time
    /// limit while rank 0 lives (preparation can take long), but a rank 0 that dies is reported at once.
    void wait_for_main(const std::string& key);
    void main_done(const std::string& key);

private:
    friend class GradReducer;
    Context() = default;
    void fail(const std::string& what, const std::exception& e);  // [[noreturn]]
    void run(const std::string& what, const std::function<void()>& op);
    struct Impl;
    Env env_;
    std::string backend_ = "none";
    bool failed_ = false;
    std::shared_ptr<Impl> impl_;
};

/// Gradient sums that overlap the backward pass, as PyTorch DDP's reducer does: the parameters are packed in
/// buckets (reverse registration order, about Options::bucket_bytes each); a gradient hook on every parameter
/// copies its gradient (times this rank's weight) into its bucket as soon as autograd has computed it, and a
/// full bucket starts its asynchronous all-reduce while the backward pass goes on. Buckets are launched
/// strictly in bucket order, so every rank issues the same collectives in the same order whatever order its
/// autograd engine produces the gradients in. finish() launches what is left (a parameter that got no
/// gradient on this rank counts as zero, a rank without data calls finish() without a backward pass), waits
/// and writes the sums into .grad, so that every parameter has a gradient afterwards on every rank.
///
/// Result: grad = sum over ranks r of weight_r * grad_r; with weight = 1/world, the average. Pass each rank's
/// share of the global batch (n_r / N) as the weight to get the gradient of the mean loss over the global
/// batch when the ranks hold different numbers of samples. With a single process (no process group) the hooks
/// are not installed and finish() only scales by the weight.
class GradReducer {
public:
    GradReducer(std::shared_ptr<Context> ctx, std::vector<torch::Tensor> params);
    ~GradReducer();
    GradReducer(const GradReducer&) = delete;
    GradReducer& operator=(const GradReducer&) = delete;

    /// Before the backward pass: this rank's gradients enter the sum with `weight`.
    void prepare(double weight);
    /// After the backward pass (or without one): launch, wait, write .grad; `scalars` are summed with the same
    /// weights (e.g. loss values for the log). Throws ned::Error naming a rank that stopped.
    void finish(std::vector<double>* scalars = nullptr);
    size_t buckets() const;

    /// Counters since construction (for logs and tests; all zero with a single process): steps finished,
    /// bucket all-reduces launched from the gradient hooks while the backward pass ran and launched by finish()
    /// (parameters that got no gradient, or the last buckets), and hooks that fired while the reducer was not
    /// prepared (gradients of a backward pass that is not this reducer's step: they are ignored).
    struct Stats {
        int64_t steps = 0, launched_in_backward = 0, launched_in_finish = 0, ignored_hooks = 0;
    };
    Stats stats() const;

private:
    struct Impl;
    std::shared_ptr<Context> ctx_;
    std::unique_ptr<Impl> impl_;
};

}  // namespace ned::dist
