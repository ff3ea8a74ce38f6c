#include "ned/manip/train.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>

#include "ned/core/adam.hpp"
#include "ned/core/error.hpp"
#include "ned/core/fault.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/core/log.hpp"
#include "ned/core/safetensors.hpp"
#include "ned/core/torch_util.hpp"

namespace ned::manip {
namespace fs = std::filesystem;

// ---- losses ----------------------------------------------------------------------------------------

torch::Tensor adv_loss(const torch::Tensor& logits, int target) {
    NED_CHECK(target == 0 || target == 1, "LSGAN target ", target);
    return (logits - static_cast<double>(target)).pow(2).mean();
}

torch::Tensor jaw_correlation(const torch::Tensor& a, const torch::Tensor& b) {
    auto da = a.select(2, 0), db = b.select(2, 0);
    auto va = da - da.mean(1, true), vb = db - db.mean(1, true);
    return ((va * vb).mean(1) * va.pow(2).mean(1).rsqrt() * vb.pow(2).mean(1).rsqrt()).mean();
}

torch::Tensor mouth_loss(const torch::Tensor& x_real, const torch::Tensor& x_fake, const torch::Tensor& x_rec) {
    return -(jaw_correlation(x_real, x_fake) + jaw_correlation(x_fake, x_rec));
}

DLosses d_loss(Nets& nets, const torch::Tensor& x_real, const torch::Tensor& y_org, const torch::Tensor& y_trg,
               const torch::Tensor& z_trg, const torch::Tensor& x_ref) {
    NED_CHECK(z_trg.defined() != x_ref.defined(), "d_loss needs exactly one of z_trg and x_ref");
    auto loss_real = adv_loss(nets.discriminator->forward(x_real, y_org), 1);
    torch::Tensor x_fake;
    {
        torch::NoGradGuard no_grad;
        auto s_trg = z_trg.defined() ? nets.mapping_network->forward(z_trg, y_trg) : nets.style_encoder->forward(x_ref);
        x_fake = nets.generator->forward(x_real, s_trg);
    }
    auto loss_fake = adv_loss(nets.discriminator->forward(x_fake, y_trg), 0);
    DLosses out;
    out.total = loss_real + loss_fake;
    out.real = loss_real.item<double>();
    out.fake = loss_fake.item<double>();
    return out;
}

GLosses g_loss(Nets& nets, const LossWeights& w, const torch::Tensor& x_real, const torch::Tensor& y_org,
               const torch::Tensor& y_trg, const torch::Tensor& z_trg, const torch::Tensor& x_ref) {
    NED_CHECK(z_trg.defined() != x_ref.defined(), "g_loss needs exactly one of z_trg and x_ref");
    auto s_trg = z_trg.defined() ? nets.mapping_network->forward(z_trg, y_trg) : nets.style_encoder->forward(x_ref);
    auto x_fake = nets.generator->forward(x_real, s_trg);
    auto loss_adv = adv_loss(nets.discriminator->forward(x_fake, y_trg), 1);
    auto s_pred = nets.style_encoder->forward(x_fake);
    auto loss_sty = (s_pred - s_trg).abs().mean();
    auto s_org = nets.style_encoder->forward(x_real);
    auto x_rec = nets.generator->forward(x_fake, s_org);
    auto loss_cyc = (x_rec - x_real).abs().mean();
    auto loss_m = mouth_loss(x_real, x_fake, x_rec);  // = -(corr_f + corr_b)
    GLosses out;
    out.total = loss_adv + w.sty * loss_sty + w.cyc * loss_cyc + w.mouth * loss_m;
    out.adv = loss_adv.item<double>();
    out.sty = loss_sty.item<double>();
    out.cyc = loss_cyc.item<double>();
    out.mouth = -loss_m.item<double>();
    return out;
}

namespace {

void zero_grads(Nets& nets) {
    nets.generator->zero_grad();
    nets.style_encoder->zero_grad();
    nets.mapping_network->zero_grad();
    nets.discriminator->zero_grad();
}

/// Endless shuffled stream of window indices (reshuffled at every pass).
struct IndexStream {
    std::vector<int64_t> perm;
    size_t pos = 0;
    std::mt19937_64* rng = nullptr;
    IndexStream(int64_t n, std::mt19937_64& r) : perm(n), rng(&r) {
        for (int64_t i = 0; i < n; ++i) perm[i] = i;
        shuffle();
    }
    void shuffle() {
        // Fisher-Yates with our own draw (std::shuffle's use of the engine is implementation-defined).
        for (size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[(*rng)() % i]);
        pos = 0;
    }
    std::vector<int64_t> next(int64_t b) {
        std::vector<int64_t> out;
        out.reserve(b);
        while (static_cast<int64_t>(out.size()) < b) {
            if (pos == perm.size()) shuffle();
            out.push_back(perm[pos++]);
        }
        return out;
    }
};

std::string ckpt_name(int epoch, const char* suffix) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "epoch_%02d%s", epoch, suffix);
    return buf;
}

/// Highest epoch with both a network and an optimiser file in `dir`; 0 if none.
int last_epoch(const std::string& dir) {
    int best = 0;
    const std::regex re("epoch_(\\d+)\\.optim\\.safetensors");
    for (const auto& e : fs::directory_iterator(dir)) {
        std::smatch m;
        const std::string name = e.path().filename().string();
        if (std::regex_match(name, m, re)) {
            const int ep = std::stoi(m[1]);
            if (fs::exists(fs::path(dir) / ckpt_name(ep, ".safetensors"))) best = std::max(best, ep);
        }
    }
    return best;
}

uint64_t mix(uint64_t seed, uint64_t a, uint64_t b) {
    uint64_t x = seed ^ (a * 0x9E3779B97F4A7C15ULL) ^ (b * 0xC2B2AE3D27D4EB4FULL);
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 29;
    return x;
}

struct Sums {
    double d = 0, g = 0, adv = 0, sty = 0, cyc = 0, mouth = 0;
    int64_t n = 0;
};

}  // namespace

TrainResult train_manipulator(const TrainOptions& o) {
    if (o.epochs < 1) throw InputError(cat("--epochs must be >= 1, got ", o.epochs));
    if (o.decay_epochs < 0 || o.decay_epochs > o.epochs)
        throw InputError(cat("--decay-epochs must be in 0..epochs (", o.epochs, "), got ", o.decay_epochs));
    if (o.batch_size < 1) throw InputError(cat("--batch-size must be >= 1, got ", o.batch_size));
    if (o.iters_per_epoch < 0) throw InputError("--iters-per-epoch must be >= 0");
    if (!(o.val_fraction >= 0 && o.val_fraction < 1)) throw InputError("--val-fraction must be in [0, 1)");
    if (o.resume && !o.init_from.empty()) throw InputError("--resume and --init-from exclude each other");
    if (!(std::isfinite(o.lr) && o.lr > 0 && o.lr <= 1)) throw InputError(cat("--lr must be in (0, 1], got ", o.lr));
    if (!(std::isfinite(o.f_lr) && o.f_lr >= 0 && o.f_lr <= 1))
        throw InputError(cat("--f-lr must be in [0, 1], got ", o.f_lr));
    for (const auto& [name, v] : {std::pair<const char*, double>{"--lambda-sty", o.lambdas.sty},
                                  {"--lambda-cyc", o.lambdas.cyc},
                                  {"--lambda-mouth", o.lambdas.mouth}})
        if (!(std::isfinite(v) && v >= 0 && v <= 1e6)) throw InputError(cat(name, " must be in [0, 1e6], got ", v));
    const torch::Device device = resolve_device(o.device);
    const std::shared_ptr<dist::Context> ctx = o.dist ? o.dist : dist::Context::single();
    const bool main_rank = ctx->is_main();
    const int64_t world = ctx->world(), rank = ctx->rank();

    // ---- output folder (rank 0 only): checked now, created only once the dataset and --init-from have loaded ----
    const fs::path out(o.out_dir);
    if (o.out_dir.empty()) throw InputError("--out: empty path");
    std::error_code out_ec;
    const bool out_exists = main_rank && fs::exists(fs::symlink_status(out, out_ec));
    if (!main_rank) {
        // other ranks never touch out_dir
    } else if (!out_exists) {
        const fs::path parent = out.parent_path().empty() ? fs::path(".") : out.parent_path();
        if (!fs::is_directory(parent, out_ec))
            throw InputError(cat("--out ", o.out_dir, ": parent folder ", parent.string(), " does not exist"));
        if (::access(parent.c_str(), W_OK | X_OK) != 0)
            throw InputError(cat("--out ", o.out_dir, ": cannot be created in ", parent.string(), " (",
                                 std::strerror(errno), ")"));
    } else if (!fs::is_directory(out, out_ec)) {
        throw InputError(cat("--out ", o.out_dir, ": exists and is not a folder (expected the output folder)"));
    } else if (::access(o.out_dir.c_str(), W_OK | X_OK) != 0) {
        throw InputError(cat("--out ", o.out_dir, ": the folder is not writable (", std::strerror(errno), ")"));
    }
    int resume_epoch = o.resume && out_exists ? last_epoch(o.out_dir) : 0;
    if (main_rank && o.resume && resume_epoch == 0)
        throw InputError(cat("--resume: no complete checkpoint (epoch_NN.safetensors + epoch_NN.optim.safetensors) in ",
                             o.out_dir));
    if (main_rank && out_exists && !o.resume && !o.overwrite &&
        (last_epoch(o.out_dir) > 0 || fs::exists(fs::path(o.out_dir) / "manipulator.safetensors")))
        throw InputError(cat(o.out_dir, " already holds checkpoints; use --resume to continue or -y to start over"));
    // The files this run writes must not be an input (--init-from DIR/manipulator.safetensors -y, ...).
    if (main_rank) check_not_input((out / "manipulator.safetensors").string(), "--out checkpoint");
    resume_epoch = static_cast<int>(std::lround(ctx->sum(main_rank ? resume_epoch : 0)));  // rank 0's decision
    auto create_out_dir = [&] {
        std::error_code ec;
        if (main_rank && !out_exists) fs::create_directory(out, ec);
        if (ec && ec == std::errc::no_space_on_device)
            throw IoError(cat("--out ", o.out_dir, ": cannot create the folder (", ec.message(), ")"));
        if (ec) throw InputError(cat("--out ", o.out_dir, ": cannot create the folder (", ec.message(), ")"));
        if (main_rank && !o.resume && out_exists) {
            // Fresh start (-y), now that the dataset and --init-from have loaded: drop the loss log and stale
            // optimiser states so that a later --resume cannot pick up an epoch of the previous run. Network
            // checkpoints of the old run are overwritten as epochs finish.
            fs::remove(out / "losses.jsonl", ec);
            const std::regex re("epoch_\\d+\\.optim\\.safetensors");
            for (const auto& e : fs::directory_iterator(out, ec))
                if (std::regex_match(e.path().filename().string(), re)) fs::remove(e.path(), ec);
        }
    };

    // ---- data: split by file (windows of one file overlap, so a per-window split would leak) ----
    fault_point("train.data");
    auto files = list_dataset(o.dataset);
    std::vector<LabeledFile> train_files, val_files;
    {
        std::mt19937_64 rng(mix(o.seed, 1, 0));
        std::vector<size_t> order(files.size());
        for (size_t i = 0; i < order.size(); ++i) order[i] = i;
        for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
        size_t n_val = static_cast<size_t>(std::round(o.val_fraction * files.size()));
        if (o.val_fraction > 0 && n_val == 0 && files.size() >= 2) n_val = 1;
        if (n_val >= files.size()) n_val = files.size() - 1;
        std::vector<bool> is_val(files.size(), false);
        for (size_t i = 0; i < n_val; ++i) is_val[order[i]] = true;
        for (size_t i = 0; i < files.size(); ++i) (is_val[i] ? val_files : train_files).push_back(files[i]);
    }
    const WindowSet train = load_windows(train_files);
    const WindowSet val = val_files.empty() ? WindowSet{} : load_windows(val_files);
    if (train.size() == 0)
        throw InputError(cat(o.dataset, ": no training window of ", kSeqLen, " consecutive valid frames"));
    {
        // NED's mouth loss correlates the jaw opening (input column 0) over each window: where it never changes
        // the correlation is 0/0 and the first batch drawing such a window makes every loss NaN.
        const torch::Tensor jaw = train.frames.select(1, 0).contiguous();
        const float* j = jaw.data_ptr<float>();
        int64_t flat = 0;
        for (const int64_t s0 : train.starts) {
            const auto [lo, hi] = std::minmax_element(j + s0, j + s0 + kSeqLen);
            flat += *lo == *hi;
        }
        if (flat == static_cast<int64_t>(train.starts.size()))
            throw InputError(cat(o.dataset, ": the training data do not vary: the jaw opening is constant in all ",
                                 flat, " training windows (NED's mouth loss correlates it over time and is 0/0 on "
                                 "constant data); are the reconstructions all zero or all the same?"));
        if (flat > 0)
            NED_LOG_WARN("[manip] {} of {} training windows have a constant jaw opening (the mouth loss is undefined "
                         "on them; a batch that draws one stops the run as diverged)", flat, train.starts.size());
    }
    NED_LOG_INFO("[manip] {} training windows from {} files, {} validation windows from {} files", train.size(),
                 train_files.size(), val.size(), val_files.size());
    if (val.size() == 0) NED_LOG_WARN("[manip] no validation windows: validation losses are not computed");

    // ---- networks and optimisers ----
    torch::manual_seed(o.seed);
    Nets nets(o.net);
    nets.he_init();
    if (!o.init_from.empty() && main_rank) {
        bool has_d = false;
        load_checkpoint_into(o.init_from, nets, &has_d);
        NED_LOG_INFO("[manip] fine-tuning from {}{}", o.init_from, has_d ? "" : " (no discriminator in it: D starts fresh)");
    }
    nets.to(device);
    create_out_dir();
    // A failure before the first checkpoint removes the folder this run created (nothing of value in it).
    struct RemoveIfEmpty {
        fs::path dir;
        bool armed;
        ~RemoveIfEmpty() {
            std::error_code ec;
            if (armed && fs::is_empty(dir, ec)) fs::remove(dir, ec);
        }
    } remove_new_out{out, main_rank && !out_exists};
    // the shared Adam (ned/core/adam.hpp); its state names are the modules' parameter names
    Adam opt_g(Adam::named_parameters(*nets.generator), o.lr, o.beta1, o.beta2),
        opt_d(Adam::named_parameters(*nets.discriminator), o.lr, o.beta1, o.beta2),
        opt_e(Adam::named_parameters(*nets.style_encoder), o.lr, o.beta1, o.beta2),
        opt_m(Adam::named_parameters(*nets.mapping_network), o.f_lr, o.beta1, o.beta2);
    double lr = o.lr, f_lr = o.f_lr;
    if (resume_epoch > 0) fault_point("train.resume");
    if (resume_epoch > 0 && main_rank) {
        const std::string net_path = (fs::path(o.out_dir) / ckpt_name(resume_epoch, ".safetensors")).string();
        const std::string opt_path = (fs::path(o.out_dir) / ckpt_name(resume_epoch, ".optim.safetensors")).string();
        load_checkpoint_into(net_path, nets);
        const st::File f = st::load(opt_path, st::Role::Input);
        f.require_format("ned.manipulator.optim", 1);
        opt_g.load(f, "optim.generator.");
        opt_d.load(f, "optim.discriminator.");
        opt_e.load(f, "optim.style_encoder.");
        opt_m.load(f, "optim.mapping_network.");
        lr = opt_g.lr;
        f_lr = opt_m.lr;
        NED_LOG_INFO("[manip] resuming after epoch {} from {}", resume_epoch, net_path);
    }
    if (ctx->world() > 1) {
        // identical initial weights and optimiser state on every rank: rank 0's
        std::vector<torch::Tensor> state;
        for (torch::nn::Module* m : {static_cast<torch::nn::Module*>(nets.generator.get()),
                                     static_cast<torch::nn::Module*>(nets.style_encoder.get()),
                                     static_cast<torch::nn::Module*>(nets.mapping_network.get()),
                                     static_cast<torch::nn::Module*>(nets.discriminator.get())}) {
            for (auto& p : m->parameters(true)) state.push_back(p);
            for (auto& b : m->buffers(true)) state.push_back(b);
        }
        for (auto* a : {&opt_g, &opt_d, &opt_e, &opt_m}) {
            state.insert(state.end(), a->exp_avg().begin(), a->exp_avg().end());
            state.insert(state.end(), a->exp_avg_sq().begin(), a->exp_avg_sq().end());
        }
        auto scalars = torch::tensor({static_cast<double>(opt_g.steps), static_cast<double>(opt_d.steps),
                                      static_cast<double>(opt_e.steps), static_cast<double>(opt_m.steps), lr, f_lr},
                                     torch::kFloat64);
        state.push_back(scalars);
        fault_point("train.broadcast");
        ctx->broadcast(state);
        opt_g.steps = static_cast<int64_t>(scalars[0].item<double>());
        opt_d.steps = static_cast<int64_t>(scalars[1].item<double>());
        opt_e.steps = static_cast<int64_t>(scalars[2].item<double>());
        opt_m.steps = static_cast<int64_t>(scalars[3].item<double>());
        lr = scalars[4].item<double>();
        f_lr = scalars[5].item<double>();
        NED_LOG_INFO("[manip] rank {}/{}: {} windows per rank per iteration, global batch {}", rank, world,
                     std::min<int64_t>(o.batch_size, train.size()), world * std::min<int64_t>(o.batch_size, train.size()));
    }
    if (resume_epoch >= o.epochs) NED_LOG_WARN("[manip] {} already holds epoch {} of {}; nothing to do", o.out_dir, resume_epoch, o.epochs);

    const int64_t B = std::min<int64_t>(o.batch_size, train.size());  // per rank
    const int64_t GB = B * world;                                     // global batch
    const int64_t iters = o.iters_per_epoch > 0 ? o.iters_per_epoch : (train.size() + GB - 1) / GB;
    const int64_t total_iters = iters * std::max(0, o.epochs - resume_epoch);
    int64_t done_iters = 0;
    TrainResult result;
    result.checkpoint = (fs::path(o.out_dir) / "manipulator.safetensors").string();

    // the parameters each step averages over the ranks and updates
    const auto d_params = nets.discriminator->parameters(true);
    const auto g_params = nets.generator->parameters(true);
    std::vector<torch::Tensor> gme_params = g_params;
    for (auto& p : nets.mapping_network->parameters(true)) gme_params.push_back(p);
    for (auto& p : nets.style_encoder->parameters(true)) gme_params.push_back(p);
    // Gradient sums over the ranks that overlap the backward pass (dist::GradReducer, hooks on the parameters):
    // one reducer per kind of step, each prepared only for its own step. Every backward pass is restricted to
    // the parameters its step updates (autograd's `inputs`), so the G steps compute no gradient for D (nor the
    // reference G step for M and E): no hook of another step's reducer fires, and each rank issues the same
    // bucket all-reduces in the same order (D, D, G+M+E, G per iteration). With one process the reducers do
    // nothing (weight 1).
    dist::GradReducer red_d(ctx, d_params), red_gme(ctx, gme_params), red_g(ctx, g_params);
    if (world > 1)
        NED_LOG_INFO("[manip] rank {}/{}: gradient all-reduce {} (buckets: D {}, G+M+E {}, G {})", rank, world,
                     o.overlap_reduce ? "overlapping the backward pass" : "after the backward pass", red_d.buckets(),
                     red_gme.buckets(), red_g.buckets());

    for (int epoch = resume_epoch; epoch < o.epochs; ++epoch) {
        // Every random draw of an epoch derives from (seed, epoch), so --resume continues bit for bit.
        std::mt19937_64 rng(mix(o.seed, 2, epoch));
        auto gen = at::detail::createCPUGenerator(mix(o.seed, 3, epoch));
        IndexStream src(train.size(), rng), ref(train.size(), rng);
        nets.train(true);
        for (auto* a : {&opt_g, &opt_d, &opt_e}) a->lr = lr;
        opt_m.lr = f_lr;
        Sums tr;
        for (int64_t it = 0; it < iters; ++it) {
            fault_point("train.step");
            // the global batch is drawn identically on every rank; this rank takes rows [rank*B, (rank+1)*B)
            const auto gsi = src.next(GB), gri = ref.next(GB);
            const std::vector<int64_t> si(gsi.begin() + rank * B, gsi.begin() + (rank + 1) * B),
                ri(gri.begin() + rank * B, gri.begin() + (rank + 1) * B);
            auto x_real = train.windows(si).to(device), y_org = train.label_tensor(si).to(device);
            auto x_ref = train.windows(ri).to(device), y_trg = train.label_tensor(ri).to(device);
            auto z_trg = torch::randn({GB, kLatentDim}, gen).slice(0, rank * B, (rank + 1) * B).to(device);
            const torch::Tensor none;

            // A non-finite loss stops the run before the step that would spread it into the weights; the
            // checkpoints of earlier epochs stay as they are.
            // With several ranks the gradients and the loss are averaged first, so every rank sees the same value
            // and stops together.
            auto require_finite = [&](double v, const char* which) {
                if (!std::isfinite(v))
                    throw Error(cat("[manip] training diverged: ", which, " loss is ", v, " at epoch ", epoch + 1,
                                    " iteration ", it + 1, " (try a lower --lr; check the dataset); no checkpoint "
                                    "of this epoch was written"));
            };
            // backward into the parameters of the networks that step, their gradients (and the loss) averaged over
            // the ranks, check
            auto backward = [&](const torch::Tensor& loss, dist::GradReducer& red,
                                const std::vector<torch::Tensor>& params, const char* which) {
                zero_grads(nets);
                std::vector<double> v{loss.item<double>()};
                // also when non-finite: every rank must offer the same gradients to average
                if (o.overlap_reduce) {
                    red.prepare(1.0 / static_cast<double>(world));
                    loss.backward({}, c10::nullopt, false, c10::optional<at::TensorList>(params));
                    red.finish(&v);
                } else {
                    loss.backward({}, c10::nullopt, false, c10::optional<at::TensorList>(params));
                    ctx->average_gradients(params, &v);
                }
                require_finite(v[0], which);
                return v[0];
            };

            auto dl = d_loss(nets, x_real, y_org, y_trg, z_trg, none);
            const double dl_v = backward(dl.total, red_d, d_params, "discriminator (latent)");
            opt_d.step();
            auto dr = d_loss(nets, x_real, y_org, y_trg, none, x_ref);
            const double dr_v = backward(dr.total, red_d, d_params, "discriminator (reference)");
            opt_d.step();

            auto gl = g_loss(nets, o.lambdas, x_real, y_org, y_trg, z_trg, none);
            const double gl_v = backward(gl.total, red_gme, gme_params, "generator (latent)");
            opt_g.step();
            opt_m.step();
            opt_e.step();
            auto gr = g_loss(nets, o.lambdas, x_real, y_org, y_trg, none, x_ref);
            const double gr_v = backward(gr.total, red_g, g_params, "generator (reference)");
            opt_g.step();

            tr.d += dl_v + dr_v;
            tr.g += gl_v + gr_v;
            ++tr.n;
            ++done_iters;
            if (o.progress) o.progress(done_iters, total_iters);
        }

        // ---- validation losses (no grad; weighted by batch size; NED's skip-first/divide-by-train bugs fixed) ----
        EpochLosses el;
        el.epoch = epoch + 1;
        el.lr = lr;
        el.train_d = tr.d / std::max<int64_t>(1, tr.n);
        el.train_g = tr.g / std::max<int64_t>(1, tr.n);
        fault_point("train.epoch_end");  // rank 0 validates and writes its checkpoints from here
        if (val.size() > 0 && main_rank) {
            fault_point("train.validate");
            torch::NoGradGuard no_grad;
            nets.train(false);
            std::mt19937_64 vrng(mix(o.seed, 4, epoch));
            auto vgen = at::detail::createCPUGenerator(mix(o.seed, 5, epoch));
            IndexStream vref(val.size(), vrng);
            Sums vs;
            for (int64_t b = 0; b < val.size(); b += o.batch_size) {
                const int64_t e = std::min<int64_t>(b + o.batch_size, val.size());
                std::vector<int64_t> si;
                for (int64_t i = b; i < e; ++i) si.push_back(i);
                const auto ri = vref.next(e - b);
                auto x_real = val.windows(si).to(device), y_org = val.label_tensor(si).to(device);
                auto x_ref = val.windows(ri).to(device), y_trg = val.label_tensor(ri).to(device);
                auto z_trg = torch::randn({e - b, kLatentDim}, vgen).to(device);
                const torch::Tensor none;
                auto dl = d_loss(nets, x_real, y_org, y_trg, z_trg, none);
                auto dr = d_loss(nets, x_real, y_org, y_trg, none, x_ref);
                auto gl = g_loss(nets, o.lambdas, x_real, y_org, y_trg, z_trg, none);
                auto gr = g_loss(nets, o.lambdas, x_real, y_org, y_trg, none, x_ref);
                const double w = static_cast<double>(e - b);
                vs.d += w * (dl.total.item<double>() + dr.total.item<double>());
                vs.g += w * (gl.total.item<double>() + gr.total.item<double>());
                vs.adv += w * (gl.adv + gr.adv) / 2;
                vs.sty += w * (gl.sty + gr.sty) / 2;
                vs.cyc += w * (gl.cyc + gr.cyc) / 2;
                vs.mouth += w * (gl.mouth + gr.mouth) / 2;
                vs.n += e - b;
            }
            el.val_d = vs.d / vs.n;
            el.val_g = vs.g / vs.n;
            el.val_adv = vs.adv / vs.n;
            el.val_sty = vs.sty / vs.n;
            el.val_cyc = vs.cyc / vs.n;
            el.val_mouth = vs.mouth / vs.n;
        }
        if (main_rank)
        NED_LOG_INFO("[manip] epoch {}/{}: lr {:.3g}  train D {:.4f} G {:.4f} | val D {:.4f} G {:.4f} (adv {:.4f} sty "
                     "{:.4f} cyc {:.4f} mouth corr {:.4f})",
                     el.epoch, o.epochs, lr, el.train_d, el.train_g, el.val_d, el.val_g, el.val_adv, el.val_sty,
                     el.val_cyc, el.val_mouth);

        // ---- linear decay (NED: after the epoch, once epoch+1 > niter - niter_decay) ----
        if (o.decay_epochs > 0 && epoch + 1 > o.epochs - o.decay_epochs) {
            const double lr_new = lr - o.lr / o.decay_epochs;
            if (lr_new >= 0) {
                lr = lr_new;
                f_lr = f_lr - o.f_lr / o.decay_epochs;
            }
        }

        // ---- checkpoints (rank 0); every rank holds the same weights, so all of them stop here alike ----
        {
            torch::NoGradGuard no_grad;
            std::string bad;
            for (auto* a : {&opt_g, &opt_d, &opt_e, &opt_m}) {
                for (const auto& [name, p] : a->params())
                    if (bad.empty() && !torch::isfinite(p).all().item<bool>()) bad = cat("weight ", name);
                for (auto* moments : {&a->exp_avg(), &a->exp_avg_sq()})
                    for (const auto& t : *moments)
                        if (bad.empty() && t.defined() && !torch::isfinite(t).all().item<bool>()) bad = "an Adam moment";
            }
            if (!bad.empty())
                throw Error(cat("[manip] training diverged in epoch ", epoch + 1, ": ", bad, " is not finite (try a lower "
                                "--lr; this run: ", o.lr, "); no checkpoint of this epoch was written"));
        }
        if (!main_rank) {
            result.epochs.push_back(el);
            continue;
        }
        const std::map<std::string, std::string> meta = {
            {"epoch", std::to_string(epoch + 1)}, {"seed", std::to_string(o.seed)}, {"dataset", o.dataset}};
        // An epoch's checkpoint is its network file plus its optimiser file: when writing either fails (a full
        // disk), both are removed, so that --resume never meets half an epoch and a folder this run created is
        // left empty (and then removed) when no complete epoch was saved.
        const fs::path net_file = fs::path(o.out_dir) / ckpt_name(epoch + 1, ".safetensors");
        const fs::path opt_file = fs::path(o.out_dir) / ckpt_name(epoch + 1, ".optim.safetensors");
        try {
            fault_point("train.checkpoint");
            save_checkpoint(net_file.string(), nets, meta);
            st::File f;
            f.metadata = meta;
            f.metadata["format"] = "ned.manipulator.optim";
            f.metadata["version"] = "1";
            for (auto* a : {&opt_g, &opt_d, &opt_e}) a->lr = lr;  // the learning rates of the next epoch
            opt_m.lr = f_lr;
            opt_g.save(f, "optim.generator.");
            opt_d.save(f, "optim.discriminator.");
            opt_e.save(f, "optim.style_encoder.");
            opt_m.save(f, "optim.mapping_network.");
            if (const std::string bad = st::first_non_finite(f); !bad.empty())
                throw Error(cat(opt_file.string(), ": not written: tensor '", bad, "' holds a NaN or an infinity (the "
                                "training diverged; try a lower --lr)"));
            st::save(opt_file.string(), f);
        } catch (...) {
            std::error_code ec;
            fs::remove(net_file, ec);
            fs::remove(opt_file, ec);
            throw;
        }
        {
            std::error_code ec;
            if (epoch > 0) fs::remove(fs::path(o.out_dir) / ckpt_name(epoch, ".optim.safetensors"), ec);
        }
        save_checkpoint(result.checkpoint, nets, meta);
        {
            nlohmann::json j = {{"epoch", el.epoch},     {"lr", el.lr},           {"train_d", el.train_d},
                                {"train_g", el.train_g}};
            if (val.size() > 0) {
                j["val_d"] = el.val_d;
                j["val_g"] = el.val_g;
                j["val_adv"] = el.val_adv;
                j["val_sty"] = el.val_sty;
                j["val_cyc"] = el.val_cyc;
                j["val_mouth_corr"] = el.val_mouth;
            }
            std::ofstream log(fs::path(o.out_dir) / "losses.jsonl", std::ios::app);
            log << j.dump() << "\n";
        }
        result.epochs.push_back(el);
    }
    result.reduce_d = red_d.stats();
    for (const auto* red : {&red_gme, &red_g}) {
        const auto st = red->stats();
        result.reduce_g.steps += st.steps;
        result.reduce_g.launched_in_backward += st.launched_in_backward;
        result.reduce_g.launched_in_finish += st.launched_in_finish;
        result.reduce_g.ignored_hooks += st.ignored_hooks;
    }
    if (world > 1) {
        const auto &d = result.reduce_d, &g = result.reduce_g;
        NED_LOG_INFO("[manip] rank {}: gradient all-reduce: {} steps, {} buckets launched during the backward pass, {} "
                     "after it; gradient hooks outside their step: D {}, G {}", rank, d.steps + g.steps,
                     d.launched_in_backward + g.launched_in_backward, d.launched_in_finish + g.launched_in_finish,
                     d.ignored_hooks, g.ignored_hooks);
    }
    return result;
}

}  // namespace ned::manip
