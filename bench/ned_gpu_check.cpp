// ned_gpu_check: the torch-only layer on one device, measured for scripts/gpu_check.sh (built with NED_NETS_ONLY).
// Writes ONE JSON file (after every section, so that a run cut short leaves what it measured):
//   env            LibTorch, CUDA runtime / cuDNN / NCCL versions, GPU, CPU, threads
//   generator      NED's renderer generator (GeneratorConfig defaults: ngf 64, 3 downsamplings, 9 blocks, 256x256)
//                  in fp32, bf16, fp16 (the generator converted as `ned render --precision` does), batch 1 and a
//                  batch of 8 independent segments: ms per batch and per frame, peak GPU memory, max |diff| vs fp32
//   deca_encode    DECA's E_flame + E_detail (random weights, 224x224), batch 1 and 8: ms per frame
//   flame          a FLAME-sized synthetic model (5023 vertices, 9976 faces), batch 32: ms per batch and per frame
//   train_step     one renderer training window (train_detail::train_window: 4 generated frames at batch 1, G + D +
//                  mouth D + VGG19 forward and backward, Adam steps) in fp32, bf16, fp16 (+ dynamic loss scale)
//   peak_gpu_memory_mib  the largest peak over the sections (CUDACachingAllocator statistics)
//   allreduce      ned::dist's gradient all-reduce: two processes (this program again, as --allreduce-worker, with
//                  RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT) sharing the device; when they cannot (NCCL refuses
//                  two ranks on one GPU), one process with a single-rank process group
//   errors         what failed (each measurement is independent: a failure is recorded, the rest goes on)
// Usage:
//   ned_gpu_check [--out FILE] [--device auto|cpu|cuda] [--tiny] [--dry-run] [--reps N] [--only LIST]
//                 [--allreduce-mib N] [--threads N]
//     --tiny      small sizes (generator ngf 8 at 64x64, training ngf/ndf 8 at 64x64; DECA and FLAME as they are)
//     --dry-run   --tiny --device cpu --threads 1, and "dry_run": true in the JSON (scripts/gpu_check.sh --dry-run)
//     --threads   torch intra-op threads (0 = all cores; default LibTorch's own)
//     --only      comma-separated sections: env,generator,deca,flame,train,allreduce (default all)
//   ned_gpu_check --allreduce-worker --bytes N --reps N --device D --result FILE   (one rank; internal)
// Exit status: 0 when every section ran, 1 when any recorded an error, 2 for bad arguments.
#include <torch/torch.h>
#include <torch/version.h>

#include <ATen/Context.h>
#include <ATen/detail/CUDAHooksInterface.h>

#ifdef NED_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <torch/csrc/cuda/nccl.h>
#endif
#ifdef NED_WITH_NCCL
#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ned/core/adam.hpp"
#include "ned/core/error.hpp"
#include "ned/core/log.hpp"
#include "ned/core/torch_util.hpp"
#include "ned/dist/dist.hpp"
#include "ned/recon/deca.hpp"
#include "ned/recon/flame.hpp"
#include "ned/renderer/losses.hpp"
#include "ned/renderer/networks.hpp"
#include "renderer/train_step.hpp"
#include "unit/recon/synthetic_flame.hpp"

extern char** environ;

namespace {

using json = nlohmann::ordered_json;  // keys in the order written
using clk = std::chrono::steady_clock;
using namespace ned;

struct Args {
    std::string out = "gpu_check.json";
    std::string device = "auto";
    bool tiny = false, dry_run = false;
    int reps = 0;      // 0: 10 (2 with --tiny)
    int threads = -1;  // torch intra-op threads: -1 LibTorch's default (1 with --dry-run), 0 all cores
    std::vector<std::string> only;
    double allreduce_mib = 0;  // 0: 256 (4 with --tiny)
    // --allreduce-worker
    bool worker = false;
    int64_t bytes = 0;
    std::string result;
};

[[noreturn]] void usage(const std::string& msg) {
    std::fprintf(stderr, "ned_gpu_check: %s\n(see the comment at the top of bench/ned_gpu_check.cpp)\n", msg.c_str());
    std::exit(2);
}

Args parse(int argc, char** argv) {
    Args a;
    auto value = [&](int& i) -> std::string {
        if (i + 1 >= argc) usage(std::string(argv[i]) + " needs a value");
        return argv[++i];
    };
    for (int i = 1; i < argc; ++i) {
        const std::string s = argv[i];
        try {
            if (s == "--out")
                a.out = value(i);
            else if (s == "--device")
                a.device = value(i);
            else if (s == "--tiny")
                a.tiny = true;
            else if (s == "--dry-run")
                a.dry_run = a.tiny = true, a.device = "cpu";
            else if (s == "--reps")
                a.reps = std::stoi(value(i));
            else if (s == "--threads")
                a.threads = std::stoi(value(i));
            else if (s == "--allreduce-mib")
                a.allreduce_mib = std::stod(value(i));
            else if (s == "--only") {
                std::stringstream ss(value(i));
                for (std::string t; std::getline(ss, t, ',');)
                    if (!t.empty()) a.only.push_back(t);
            } else if (s == "--allreduce-worker")
                a.worker = true;
            else if (s == "--bytes")
                a.bytes = std::stoll(value(i));
            else if (s == "--result")
                a.result = value(i);
            else
                usage("unknown argument '" + s + "'");
        } catch (const std::logic_error&) {
            usage("bad number after " + s);
        }
    }
    if (a.reps == 0) a.reps = a.tiny ? 2 : 10;
    // a dry run only exercises the code: one thread keeps it quick on a loaded (or nice'd) machine
    if (a.threads < 0 && a.dry_run) a.threads = 1;
    if (a.allreduce_mib <= 0) a.allreduce_mib = a.tiny ? 4 : 256;
    return a;
}

bool is_cuda(const torch::Device& d) { return d.is_cuda(); }

void sync(const torch::Device& d) {
    if (is_cuda(d)) torch::cuda::synchronize();
}

/// Mean milliseconds of `reps` calls after `warm` untimed ones (the device synchronised around them).
double time_ms(const torch::Device& d, int warm, int reps, const std::function<void()>& fn) {
    for (int i = 0; i < warm; ++i) fn();
    sync(d);
    const auto t0 = clk::now();
    for (int i = 0; i < reps; ++i) fn();
    sync(d);
    return std::chrono::duration<double, std::milli>(clk::now() - t0).count() / std::max(1, reps);
}

// ---- GPU memory (CUDACachingAllocator statistics; null on the CPU) ----
void mem_reset(const torch::Device& d) {
#ifdef NED_WITH_CUDA
    if (is_cuda(d)) {
        torch::cuda::synchronize();
        c10::cuda::CUDACachingAllocator::emptyCache();
        c10::cuda::CUDACachingAllocator::resetPeakStats(d.index() < 0 ? 0 : d.index());
    }
#else
    (void)d;
#endif
}

json mem_peak(const torch::Device& d, double* overall) {
#ifdef NED_WITH_CUDA
    if (is_cuda(d)) {
        torch::cuda::synchronize();
        const auto st = c10::cuda::CUDACachingAllocator::getDeviceStats(d.index() < 0 ? 0 : d.index());
        const double alloc = st.allocated_bytes[0].peak / 1048576.0, reserved = st.reserved_bytes[0].peak / 1048576.0;
        if (overall) *overall = std::max(*overall, alloc);
        return json{{"allocated_mib", std::round(alloc * 10) / 10}, {"reserved_mib", std::round(reserved * 10) / 10}};
    }
#else
    (void)d;
    (void)overall;
#endif
    return nullptr;
}

double r3(double v) { return std::round(v * 1000) / 1000; }

std::string cpu_model() {
    std::ifstream is("/proc/cpuinfo");
    for (std::string line; std::getline(is, line);)
        if (line.rfind("model name", 0) == 0) {
            const auto p = line.find(':');
            return p == std::string::npos ? line : line.substr(p + 2);
        }
    return "unknown";
}

std::string dotted(long v, long major_div, long minor_div) {  // 13000 -> 13.0.0 (CUDA), 91900 -> 9.19.0 (cuDNN)
    if (v <= 0) return "unknown";
    return cat(v / major_div, ".", (v % major_div) / minor_div, ".", v % minor_div);
}

json env_info(const torch::Device& dev) {
    json e;
    e["torch_version"] = TORCH_VERSION;
    e["torch_cxx11_abi"] = static_cast<bool>(_GLIBCXX_USE_CXX11_ABI);
#ifdef NED_WITH_CUDA
    e["ned_cuda_code"] = true;
#else
    e["ned_cuda_code"] = false;
#endif
    auto& hooks = at::detail::getCUDAHooks();
    e["torch_has_cuda"] = hooks.hasCUDA();
    e["cuda_device_count"] = static_cast<int64_t>(torch::cuda::device_count());
    e["cudnn_available"] = torch::cuda::cudnn_is_available();
    e["mkldnn"] = at::hasMKLDNN();
    e["threads"] = torch::get_num_threads();
    e["cpu"] = cpu_model();
    e["hardware_concurrency"] = std::thread::hardware_concurrency();
    char host[256] = {0};
    if (gethostname(host, sizeof host - 1) == 0) e["hostname"] = host;
#ifdef NED_WITH_CUDA
    try {
        e["cuda_runtime"] = dotted(hooks.versionCUDART(), 1000, 10);
        e["cudnn"] = dotted(hooks.versionRuntimeCuDNN(), 10000, 100);
        const uint64_t n = torch::cuda::nccl::version();
        e["nccl"] = cat(n >> 32, ".", (n >> 16) & 0xffff, ".", n & 0xffff);
    } catch (const std::exception& ex) {
        e["cuda_versions_error"] = ex.what();
    }
    if (is_cuda(dev)) {
        const auto* p = at::cuda::getDeviceProperties(dev.index() < 0 ? 0 : dev.index());
        e["gpu"] = p->name;
        e["gpu_sm"] = cat(p->major, ".", p->minor);
        e["gpu_memory_gib"] = std::round(p->totalGlobalMem / 1073741824.0 * 10) / 10;
        e["gpu_multiprocessors"] = p->multiProcessorCount;
        // float32 convolutions / matrix products in TF32 (LibTorch's defaults: cuDNN yes, cuBLAS no)
        e["cudnn_allow_tf32"] = at::globalContext().allowTF32CuDNN();
        e["cublas_allow_tf32"] = at::globalContext().allowTF32CuBLAS();
        e["cudnn_benchmark"] = at::globalContext().benchmarkCuDNN();
    }
#else
    (void)dev;
#endif
    return e;
}

torch::ScalarType dtype_of(const std::string& p) {
    return p == "fp32" ? torch::kFloat : p == "bf16" ? torch::kBFloat16 : torch::kHalf;
}

// ---- renderer generator (inference) ----
json bench_generator(const torch::Device& dev, bool tiny, int reps, double* peak_all, json& errors) {
    json out = json::array();
    const int S = tiny ? 64 : 256;
    renderer::GeneratorConfig gc;
    if (tiny) gc.ngf = 8;
    torch::manual_seed(0);
    renderer::Generator g(gc);
    renderer::init_weights(*g);
    g->eval();
    torch::NoGradGuard ng;
    std::map<int64_t, torch::Tensor> ref;  // fp32 outputs per batch
    for (const std::string prec : {"fp32", "bf16", "fp16"}) {
        for (int64_t B : {1, 8}) {
            json r{{"precision", prec}, {"batch", B}, {"size", S}, {"ngf", gc.ngf}, {"n_blocks", gc.n_blocks}};
            if (prec == "fp16" && !is_cuda(dev)) {
                r["skipped"] = "fp16 is CUDA only (as ned render)";
                out.push_back(r);
                continue;
            }
            try {
                mem_reset(dev);
                const auto dt = dtype_of(prec);
                g->to(dev, dt);
                torch::manual_seed(1);
                const auto cond = torch::rand({B, gc.cond_nc, S, S}).to(dev, dt);
                const auto prev = (torch::rand({B, gc.prev_nc, S, S}) * 2 - 1).to(dev, dt);
                auto mask = torch::zeros({B, 1, S, S});
                mask.narrow(2, S / 8, 3 * S / 4).narrow(3, S / 8, 3 * S / 4).fill_(1);
                mask = mask.to(dev, dt);
                torch::Tensor y;
                const double ms = time_ms(dev, 2, reps, [&] { y = g->forward(cond, prev, mask); });
                r["ms_per_batch"] = r3(ms);
                r["ms_per_frame"] = r3(ms / B);
                r["fps"] = std::round(1000.0 * B / ms * 10) / 10;
                y = y.to(torch::kCPU, torch::kFloat);
                r["finite"] = torch::isfinite(y).all().item<bool>();
                if (prec == "fp32")
                    ref[B] = y;
                else if (ref.count(B)) {
                    const auto d = (y - ref[B]).abs();
                    r["max_abs_diff_vs_fp32"] = d.max().item<double>();
                    r["mean_abs_diff_vs_fp32"] = d.mean().item<double>();
                }
                r["peak_memory"] = mem_peak(dev, peak_all);
            } catch (const std::exception& e) {
                r["error"] = e.what();
                errors.push_back(cat("generator ", prec, " batch ", B, ": ", e.what()));
            }
            out.push_back(r);
        }
    }
    g->to(torch::kCPU, torch::kFloat);
    return out;
}

// ---- DECA encoders ----
json bench_deca(const torch::Device& dev, bool tiny, int reps, double* peak_all, json& errors) {
    json out = json::array();
    torch::manual_seed(0);
    recon::DecaModel deca;  // random weights: the shapes are what matter
    deca.to(dev);
    for (int64_t B : {int64_t(1), int64_t(tiny ? 2 : 8)}) {
        for (bool detail : {true, false}) {
            json r{{"batch", B}, {"with_detail", detail}};
            try {
                mem_reset(dev);
                const auto img = torch::rand({B, 3, recon::kDecaImageSize, recon::kDecaImageSize}).to(dev);
                const double ms = time_ms(dev, 1, tiny ? 1 : reps, [&] { deca.encode(img, detail); });
                r["ms_per_batch"] = r3(ms);
                r["ms_per_frame"] = r3(ms / B);
                r["peak_memory"] = mem_peak(dev, peak_all);
            } catch (const std::exception& e) {
                r["error"] = e.what();
                errors.push_back(cat("deca batch ", B, ": ", e.what()));
            }
            out.push_back(r);
        }
    }
    return out;
}

// ---- FLAME ----
json bench_flame(const torch::Device& dev, int reps, double* peak_all, json& errors) {
    json r;
    const int64_t B = 32, V = 5023, F = 9976;
    r["batch"] = B;
    r["vertices"] = V;
    r["faces"] = F;
    try {
        mem_reset(dev);
        auto syn = test::make_synthetic_flame(V, F, 7, false, true);
        auto flame = recon::FlameModel::from_file(syn.file, dev);
        torch::NoGradGuard ng;
        const auto shape = torch::randn({B, 100}).to(dev), exp = torch::randn({B, 50}).to(dev),
                   pose = (torch::randn({B, 6}) * 0.2).to(dev);
        const double ms = time_ms(dev, 2, reps * 2, [&] { flame.forward(shape, exp, pose); });
        r["ms_per_batch"] = r3(ms);
        r["ms_per_frame"] = r3(ms / B);
        r["peak_memory"] = mem_peak(dev, peak_all);
    } catch (const std::exception& e) {
        r["error"] = e.what();
        errors.push_back(cat("flame: ", e.what()));
    }
    return r;
}

// ---- one renderer training window ----
json bench_train(const torch::Device& dev, bool tiny, int reps, double* peak_all, json& errors) {
    using namespace ned::renderer;
    using namespace ned::renderer::train_detail;
    json out = json::array();
    const int S = tiny ? 64 : 256, W = 4;
    for (const std::string prec : {"fp32", "bf16", "fp16"}) {
        json r{{"precision", prec},    {"size", S},  {"window", W}, {"batch", 1}, {"ngf", tiny ? 8 : 64},
               {"ndf", tiny ? 8 : 64}, {"vgg", true}};
        if (prec == "fp16" && !is_cuda(dev)) {
            r["skipped"] = "fp16 is CUDA only (as ned train-renderer)";
            out.push_back(r);
            continue;
        }
        try {
            mem_reset(dev);
            torch::manual_seed(3);
            Trainer tr;
            tr.device = dev;
            tr.compute = dtype_of(prec);
            tr.scaleG.enabled = tr.scaleD.enabled = prec == "fp16";
            GeneratorConfig gc;
            if (tiny) gc.ngf = 8;
            DiscriminatorConfig dc;
            if (tiny) dc.ndf = 8;
            tr.G = Generator(gc);
            init_weights(*tr.G);
            tr.D = MultiscaleDiscriminator(dc);
            init_weights(*tr.D);
            tr.Dm = MultiscaleDiscriminator(dc);
            init_weights(*tr.Dm);
            for (torch::nn::Module* m :
                 {static_cast<torch::nn::Module*>(tr.G.get()), static_cast<torch::nn::Module*>(tr.D.get()),
                  static_cast<torch::nn::Module*>(tr.Dm.get())}) {
                m->to(dev);
                m->train();
            }
            make_optimisers(tr, 2e-4);
            tr.vgg = Vgg19Features();  // random weights (the real ones are torchvision's, converted)
            for (auto& p : tr.vgg->parameters()) p.set_requires_grad(false);
            tr.vgg->to(dev);
            if (tr.compute != torch::kFloat) tr.vgg->to(tr.compute);
            make_reducers(tr, dist::Context::single());
            // one clip of W + 2 frames (the window's first frame needs two earlier conditioning frames)
            Clips c;
            c.length = W + 2;
            std::vector<FrameData> clip;
            const auto yy = torch::arange(S).view({S, 1}).expand({S, S}),
                       xx = torch::arange(S).view({1, S}).expand({S, S});
            const auto mask =
                ((yy - S / 2).pow(2) + (xx - S / 2).pow(2) < (S / 2 - 4) * (S / 2 - 4)).to(torch::kFloat).unsqueeze(0);
            for (size_t t = 0; t < c.length; ++t) {
                FrameData f;
                f.cond = torch::rand({9, S, S});
                f.real = torch::rand({3, S, S}) * 2 - 1;
                f.mask = mask;
                f.mouth = {S / 2, S * 2 / 3};
                clip.push_back(f);
            }
            c.clips.push_back(clip);
            std::array<double, kNumLosses> losses{};
            const double ms = time_ms(dev, 1, tiny ? 1 : std::max(2, reps / 3), [&] {
                torch::Tensor prev = torch::zeros({1, 6, S, S}, torch::TensorOptions().device(dev));
                losses = train_window(tr, c, 2, W, prev, 1.0, S);
            });
            r["ms_per_step"] = r3(ms);
            r["ms_per_generated_frame"] = r3(ms / W);
            bool finite = true;
            json l;
            for (int k = 0; k < kNumLosses; ++k) {
                finite = finite && std::isfinite(losses[k]);
                l[kLossNames[k]] = losses[k];
            }
            r["losses"] = l;
            r["losses_finite"] = finite;
            if (tr.scaleG.enabled) r["fp16_loss_scale"] = {{"G", tr.scaleG.scale}, {"D", tr.scaleD.scale}};
            r["peak_memory"] = mem_peak(dev, peak_all);
            if (!finite) errors.push_back(cat("train_step ", prec, ": non-finite losses"));
        } catch (const std::exception& e) {
            r["error"] = e.what();
            errors.push_back(cat("train_step ", prec, ": ", e.what()));
        }
        out.push_back(r);
    }
    return out;
}

// ---- all-reduce ----
/// One all-reduce measurement over `group` (world ranks) of `bytes` of float32: ms, algorithm and bus bandwidth.
json allreduce_stats(int world, int64_t bytes, double ms) {
    const double algbw = bytes / (ms / 1000.0) / 1e9;
    return json{{"world", world},
                {"bytes", bytes},
                {"ms", r3(ms)},
                {"algbw_GBps", r3(algbw)},
                {"busbw_GBps", r3(algbw * 2.0 * (world - 1) / world)}};
}

torch::Device pick_device(const std::string& spec) {
    if (spec == "cpu") return torch::kCPU;
    if (spec == "auto")
        return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
    return resolve_device(spec);
}

/// --allreduce-worker: one rank of a two-process job on the same device (RANK, WORLD_SIZE, MASTER_* from the
/// environment), through ned::dist's gradient averaging (one bucket of `bytes`).
int run_worker(const Args& a) {
    std::map<std::string, std::string> vars;  // the rendezvous variables (the library never reads the environment)
    for (const std::string& name : dist::rendezvous_variables())
        if (const char* v = std::getenv(name.c_str())) vars[name] = v;
    const dist::Env env = dist::detect_env(vars);
    std::signal(SIGPIPE, SIG_IGN);  // a peer that dies: EPIPE, an error naming the rank (ned/dist/dist.hpp)
    const torch::Device dev = pick_device(a.device);
#ifdef NED_WITH_CUDA
    if (is_cuda(dev)) c10::cuda::set_device(dev.index() < 0 ? 0 : dev.index());
#endif
    dist::Options o;
    o.timeout = std::chrono::milliseconds(60000);
    o.bucket_bytes = static_cast<size_t>(a.bytes) + 1024;
    const char* log_level = std::getenv("TORCH_CPP_LOG_LEVEL");
    o.user_log_level = log_level && *log_level;
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME")) o.gloo_interface = ifname;
    auto ctx = dist::Context::create(env, o, dev);
    const int64_t n = a.bytes / 4;
    auto p = torch::zeros({n}, torch::TensorOptions().device(dev)).requires_grad_(true);
    p.mutable_grad() = torch::full({n}, static_cast<float>(env.rank + 1), torch::TensorOptions().device(dev));
    std::vector<torch::Tensor> params{p};
    const double ms = time_ms(dev, 2, a.reps, [&] { ctx->average_gradients(params); });
    // the average of 1 and 2 (each step averages the average again: it stays 1.5)
    const double want = (env.world + 1) / 2.0;
    const bool ok = (p.grad() - want).abs().max().item<double>() < 1e-5;
    if (env.rank == 0) {
        json r = allreduce_stats(env.world, a.bytes, ms);
        r["backend"] = ctx->backend();
        r["result_correct"] = ok;
        r["note"] = "ned::dist average_gradients: one bucket (packing, all-reduce, scaling)";
        std::ofstream(a.result) << r.dump() << "\n";
    }
    return ok ? 0 : 1;
}

int free_port() {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    int port = 29500 + static_cast<int>(getpid() % 1000);
    if (s >= 0 && bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
        port = ntohs(addr.sin_port);
    if (s >= 0) close(s);
    return port;
}

std::string self_exe() {
    std::error_code ec;
    auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? std::string() : p.string();
}

std::string tail_of(const std::string& path, size_t max_chars) {
    std::ifstream is(path);
    std::stringstream ss;
    ss << is.rdbuf();
    std::string s = ss.str();
    if (s.size() > max_chars) s = "..." + s.substr(s.size() - max_chars);
    return s;
}

/// Two ranks of this program on the same device; returns rank 0's result or {"error": ...}.
json allreduce_two_processes(const Args& a, const torch::Device& dev, int64_t bytes, const std::string& dir) {
    const std::string exe = self_exe();
    if (exe.empty()) return json{{"world", 2}, {"error", "cannot find /proc/self/exe"}};
    const int port = free_port();
    const std::string result = dir + "/allreduce_rank0.json";
    std::remove(result.c_str());
    std::vector<pid_t> pids;
    std::vector<std::string> logs;
    for (int rank = 0; rank < 2; ++rank) {
        std::vector<std::string> args{exe,        "--allreduce-worker",
                                      "--bytes",  std::to_string(bytes),
                                      "--reps",   std::to_string(a.tiny ? 3 : 10),
                                      "--device", is_cuda(dev) ? std::string("cuda:0") : std::string("cpu"),
                                      "--result", result};
        std::vector<std::string> envs;
        for (char** e = environ; *e; ++e) {
            const std::string kv = *e;
            if (kv.rfind("RANK=", 0) && kv.rfind("WORLD_SIZE=", 0) && kv.rfind("LOCAL_RANK=", 0) &&
                kv.rfind("MASTER_ADDR=", 0) && kv.rfind("MASTER_PORT=", 0) && kv.rfind("SLURM_", 0))
                envs.push_back(kv);
        }
        envs.push_back(cat("RANK=", rank));
        envs.push_back("WORLD_SIZE=2");
        envs.push_back("LOCAL_RANK=0");  // both on the one device
        envs.push_back("MASTER_ADDR=127.0.0.1");
        envs.push_back(cat("MASTER_PORT=", port));
        std::vector<char*> argv, envp;
        for (auto& s : args) argv.push_back(s.data());
        argv.push_back(nullptr);
        for (auto& s : envs) envp.push_back(s.data());
        envp.push_back(nullptr);
        const std::string log = cat(dir, "/allreduce_rank", rank, ".log");
        logs.push_back(log);
        const pid_t pid = fork();
        if (pid == 0) {  // only async-signal-safe calls until exec
            const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
                close(fd);
            }
            execve(exe.c_str(), argv.data(), envp.data());
            _exit(127);
        }
        if (pid < 0) return json{{"world", 2}, {"error", "fork failed"}};
        pids.push_back(pid);
    }
    // wait (bounded: a rank that hangs is killed)
    const auto deadline = clk::now() + std::chrono::seconds(90);
    std::vector<int> status(2, -1);
    size_t left = 2;
    while (left > 0) {
        for (size_t i = 0; i < pids.size(); ++i) {
            if (status[i] != -1) continue;
            int st = 0;
            if (waitpid(pids[i], &st, WNOHANG) == pids[i]) {
                status[i] = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                --left;
            }
        }
        if (left == 0) break;
        if (clk::now() > deadline) {
            for (size_t i = 0; i < pids.size(); ++i)
                if (status[i] == -1) {
                    kill(pids[i], SIGKILL);
                    waitpid(pids[i], nullptr, 0);
                    status[i] = 137;
                }
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (status[0] == 0 && status[1] == 0 && std::filesystem::exists(result)) {
        std::ifstream is(result);
        return json::parse(is);
    }
    return json{{"world", 2},
                {"error", cat("rank exit codes ", status[0], ", ", status[1])},
                {"rank0_log_tail", tail_of(logs[0], 1500)},
                {"rank1_log_tail", tail_of(logs[1], 1500)}};
}

/// One process: a single-rank NCCL process group (NCCL initialises and runs on this GPU; no bandwidth between
/// ranks to speak of).
json allreduce_single_rank(const torch::Device& dev, int64_t bytes, int reps) {
#ifdef NED_WITH_NCCL
    if (is_cuda(dev)) {
        auto store = c10::make_intrusive<c10d::HashStore>();
        auto opts = c10d::ProcessGroupNCCL::Options::create();
        auto pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, 0, 1, opts);
        std::vector<at::Tensor> buf{torch::ones({bytes / 4}, torch::TensorOptions().device(dev))};
        const double ms = time_ms(dev, 2, reps, [&] { pg->allreduce(buf)->wait(); });
        json r = allreduce_stats(1, bytes, ms);
        r["backend"] = "nccl";
        r["result_correct"] = (buf[0] - 1).abs().max().item<double>() == 0;
        r["note"] = "c10d::ProcessGroupNCCL with one rank (two ranks could not share the GPU)";
        return r;
    }
#endif
    (void)bytes;
    (void)reps;
    return json{{"world", 1},
                {"skipped", is_cuda(dev) ? "this build has no NCCL" : "no single-rank fallback on the CPU"}};
}

json bench_allreduce(const Args& a, const torch::Device& dev, json& errors) {
    json r;
    const int64_t bytes = static_cast<int64_t>(a.allreduce_mib * 1048576.0) / 4 * 4;
    // the ranks' logs and result in a scratch folder (only the JSON goes where --out says)
    char tmpl[] = "/tmp/ned_gpu_check.XXXXXX";
    const char* made = mkdtemp(tmpl);
    if (!made) return json{{"error", "mkdtemp failed"}};
    const std::string dir = made;
    const auto t0 = clk::now();
    json two = allreduce_two_processes(a, dev, bytes, dir);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    two["wall_s"] = r3(std::chrono::duration<double>(clk::now() - t0).count());
    r["two_processes"] = two;
    if (two.contains("error")) {
        try {
            r["one_process"] = allreduce_single_rank(dev, bytes, a.reps);
        } catch (const std::exception& e) {
            r["one_process"] = json{{"world", 1}, {"error", e.what()}};
            errors.push_back(cat("allreduce (one process): ", e.what()));
        }
        if (!is_cuda(dev)) errors.push_back("allreduce (two processes): " + two["error"].get<std::string>());
    } else if (!two.value("result_correct", false)) {
        errors.push_back("allreduce: wrong result");
    }
    return r;
}

void write_json(const std::string& path, const json& j) {
    const std::string tmp = path + ".tmp";
    {
        std::ofstream os(tmp);
        os << j.dump(2) << "\n";
        if (!os) throw std::runtime_error("cannot write " + tmp);
    }
    std::filesystem::rename(tmp, path);
}

std::string now_iso() {
    const std::time_t t = std::time(nullptr);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

}  // namespace

int main(int argc, char** argv) {
    const Args a = parse(argc, argv);
    ned::log::setup(0);
    if (a.threads >= 0) set_torch_threads(a.threads);
    if (a.worker) {
        try {
            return run_worker(a);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "ned_gpu_check worker: %s\n", e.what());
            return 1;
        }
    }
    auto want = [&](const char* s) {
        return a.only.empty() || std::find(a.only.begin(), a.only.end(), s) != a.only.end();
    };
    const auto t_start = clk::now();
    torch::Device dev = torch::kCPU;
    try {
        dev = pick_device(a.device);
    } catch (const std::exception& e) {  // e.g. --device cuda without a GPU: the environment and the error only
        std::fprintf(stderr, "ned_gpu_check: %s\n", e.what());
        json j{{"program", "ned_gpu_check"}, {"device", "none"}, {"dry_run", a.dry_run}, {"started", now_iso()}};
        j["env"] = env_info(torch::kCPU);
        j["errors"] = json::array({std::string(e.what())});
        write_json(a.out, j);
        return 1;
    }
    json j;
    j["program"] = "ned_gpu_check";
    j["device"] = is_cuda(dev) ? "cuda" : "cpu";
    j["dry_run"] = a.dry_run;
    j["tiny"] = a.tiny;
    j["reps"] = a.reps;
    j["started"] = now_iso();
    json errors = json::array();  // copied into j["errors"] whenever the file is written
    double peak_all = 0;
    auto section = [&](const char* name, const char* key, const std::function<json()>& fn) {
        if (!want(name)) return;
        std::fprintf(stderr, "ned_gpu_check: %s ...\n", name);
        const auto t0 = clk::now();
        try {
            j[key] = fn();
        } catch (const std::exception& e) {
            j[key] = json{{"error", e.what()}};
            errors.push_back(cat(name, ": ", e.what()));
        }
        const double s = std::chrono::duration<double>(clk::now() - t0).count();
        j["section_seconds"][key] = r3(s);
        std::fprintf(stderr, "ned_gpu_check: %s done in %.1f s\n", name, s);
        if (is_cuda(dev)) j["peak_gpu_memory_mib"] = std::round(peak_all * 10) / 10;
        j["total_s"] = r3(std::chrono::duration<double>(clk::now() - t_start).count());
        j["errors"] = errors;
        write_json(a.out, j);
    };
    try {
        section("env", "env", [&] { return env_info(dev); });
        section("generator", "generator", [&] { return bench_generator(dev, a.tiny, a.reps, &peak_all, errors); });
        section("deca", "deca_encode", [&] { return bench_deca(dev, a.tiny, a.reps, &peak_all, errors); });
        section("flame", "flame", [&] { return bench_flame(dev, a.reps, &peak_all, errors); });
        section("train", "train_step", [&] { return bench_train(dev, a.tiny, a.reps, &peak_all, errors); });
        mem_reset(dev);
        section("allreduce", "allreduce", [&] { return bench_allreduce(a, dev, errors); });
        j["finished"] = now_iso();
        j["errors"] = errors;
        write_json(a.out, j);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "ned_gpu_check: %s\n", e.what());
        return 1;
    }
    std::fprintf(stderr, "ned_gpu_check: wrote %s (%zu error(s))\n", a.out.c_str(), errors.size());
    return errors.empty() ? 0 : 1;
}
