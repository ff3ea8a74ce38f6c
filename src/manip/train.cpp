// `ned train-manipulator` library side: see include/ned/manip/train.hpp. NED's losses first, then the run as its
// plan (train_manipulator at the end): validate, plan the outputs, load the data and networks, run the epochs,
// report. The run folder, the loss log, rank 0's state broadcast and the checkpoint helpers are the training
// harness's (ned/training/), shared with `ned train-renderer`.
#include "ned/manip/train.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>

#include "manip/internal.hpp"
#include "ned/core/adam.hpp"
#include "ned/core/error.hpp"
#include "ned/core/fault.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/core/log.hpp"
#include "ned/core/safetensors.hpp"
#include "ned/core/torch_util.hpp"
#include "ned/training/run_folder.hpp"
#include "ned/training/state.hpp"

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

/// Highest epoch with both a network and an optimiser file in `dir`; 0 if none.
int last_epoch(const std::string& dir) {
    int best = 0;
    const std::regex re("epoch_(\\d+)\\.optim\\.safetensors");
    for (const auto& e : fs::directory_iterator(dir)) {
        std::smatch m;
        const std::string name = e.path().filename().string();
        if (std::regex_match(name, m, re)) {
            const int ep = std::stoi(m[1]);
            if (fs::exists(fs::path(dir) / training::epoch_file(ep, ".safetensors"))) best = std::max(best, ep);
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

// ---- the parts of a run -----------------------------------------------------------------------------

/// The job, device and output folder of a run, and the epoch it starts after (rank 0's decision).
struct TrainRun {
    const TrainOptions& o;
    const torch::Device device;
    const std::shared_ptr<dist::Context> ctx;
    const bool main_rank;
    const int64_t world, rank;
    training::RunFolder folder;
    int resume_epoch = 0;
    explicit TrainRun(const TrainOptions& opts)
        : o(opts), device(resolve_device(opts.device)), ctx(training::job(opts.dist)), main_rank(ctx->is_main()),
          world(ctx->world()), rank(ctx->rank()), folder(opts.out_dir, "", main_rank) {}
};

/// The held-out and training windows.
struct Data {
    WindowSet train, val;
};

/// The networks, their optimisers (the shared Adam, ned/core/adam.hpp: its state names are the modules' parameter
/// names) and the learning rates of the next epoch.
struct Model {
    Nets nets;
    Adam opt_g, opt_d, opt_e, opt_m;
    double lr, f_lr;
    Model(Nets n, const TrainOptions& o)
        : nets(std::move(n)), opt_g(Adam::named_parameters(*nets.generator), o.lr, o.beta1, o.beta2),
          opt_d(Adam::named_parameters(*nets.discriminator), o.lr, o.beta1, o.beta2),
          opt_e(Adam::named_parameters(*nets.style_encoder), o.lr, o.beta1, o.beta2),
          opt_m(Adam::named_parameters(*nets.mapping_network), o.f_lr, o.beta1, o.beta2), lr(o.lr), f_lr(o.f_lr) {}
    std::vector<Adam*> adams() { return {&opt_g, &opt_d, &opt_e, &opt_m}; }
    /// The learning rates of this epoch into the optimisers.
    void set_lr() {
        for (auto* a : {&opt_g, &opt_d, &opt_e}) a->lr = lr;
        opt_m.lr = f_lr;
    }
};

/// Gradient sums over the ranks that overlap the backward pass (dist::GradReducer, hooks on the parameters): one
/// reducer per kind of step, each prepared only for its own step. Every backward pass is restricted to the
/// parameters its step updates (autograd's `inputs`), so the G steps compute no gradient for D (nor the reference
/// G step for M and E): no hook of another step's reducer fires, and each rank issues the same bucket all-reduces
/// in the same order (D, D, G+M+E, G per iteration). With one process the reducers do nothing (weight 1).
struct Reducers {
    const std::vector<torch::Tensor> d_params, g_params, gme_params;  ///< what each step averages and updates
    dist::GradReducer d, gme, g;
    Reducers(const std::shared_ptr<dist::Context>& ctx, Nets& nets)
        : d_params(nets.discriminator->parameters(true)), g_params(nets.generator->parameters(true)),
          gme_params(g_mapping_style(nets)), d(ctx, d_params), gme(ctx, gme_params), g(ctx, g_params) {}
    static std::vector<torch::Tensor> g_mapping_style(Nets& nets) {
        std::vector<torch::Tensor> v = nets.generator->parameters(true);
        for (auto& p : nets.mapping_network->parameters(true)) v.push_back(p);
        for (auto& p : nets.style_encoder->parameters(true)) v.push_back(p);
        return v;
    }
};

/// Windows per rank per iteration (B), the global batch (GB) and the iterations of an epoch and of this run.
struct Schedule {
    int64_t B = 0, GB = 0, iters = 0, total_iters = 0;
};

// ---- 1. validate: TrainOptions::validate, at the end of this file -----------------------------------

// ---- 2. plan the outputs: --out checked now, created only once the dataset and --init-from have loaded ------

void plan_outputs(TrainRun& run) {
    const TrainOptions& o = run.o;
    if (o.out_dir.empty()) throw OptionError("TrainOptions::out_dir", ": empty path");
    run.folder.check_usable();
    const bool main_rank = run.main_rank, exists = run.folder.existed();
    const int resume_epoch = o.resume && exists ? last_epoch(o.out_dir) : 0;
    if (main_rank && o.resume && resume_epoch == 0)
        throw OptionError("TrainOptions::resume", cat(": no complete checkpoint (epoch_NN.safetensors + "
                                                      "epoch_NN.optim.safetensors) in ",
                                                      o.out_dir));
    if (main_rank && exists && !o.resume && !o.overwrite &&
        (last_epoch(o.out_dir) > 0 || fs::exists(run.folder.file("manipulator.safetensors"))))
        throw InputError(cat(o.out_dir, " already holds checkpoints; use --resume to continue or -y to start over"));
    // The files this run writes must not be an input (--init-from DIR/manipulator.safetensors -y, ...).
    if (main_rank) check_not_input(run.folder.file("manipulator.safetensors").string(), "--out checkpoint");
    run.resume_epoch = static_cast<int>(training::rank0_value(*run.ctx, resume_epoch));
}

/// Create the folder. A fresh start (-y) over a previous run drops its loss log and optimiser states, so that a
/// later --resume cannot pick up an epoch of the previous run (its network checkpoints are overwritten as epochs
/// finish); a failure before the first checkpoint removes a folder this run created.
void start_outputs(TrainRun& run) {
    run.folder.create();
    if (!run.o.resume && run.folder.existed()) {
        const std::regex optim("epoch_\\d+\\.optim\\.safetensors");
        run.folder.clear_previous_run(
            [&](const std::string& name) { return name == "losses.jsonl" || std::regex_match(name, optim); });
    }
    run.folder.remove_if_left_empty();
}

// ---- 3. load the data and the networks --------------------------------------------------------------

Data load_data(const TrainOptions& o) {
    fault_point("train.data");
    const auto files = list_dataset(o.dataset);
    std::vector<LabeledFile> train_files, val_files;
    split_files(files, o.val_fraction, mix(o.seed, 1, 0), train_files, val_files);
    Data data{load_windows(train_files), val_files.empty() ? WindowSet{} : load_windows(val_files)};
    if (data.train.size() == 0)
        throw InputError(cat(o.dataset, ": no training window of ", kSeqLen, " consecutive valid frames"));
    // NED's mouth loss correlates the jaw opening (input column 0) over each window: where it never changes the
    // correlation is 0/0 and the first batch drawing such a window makes every loss NaN.
    const int64_t flat = flat_jaw_windows(data.train);
    if (flat == data.train.size())
        throw InputError(cat(o.dataset, ": the training data do not vary: the jaw opening is constant in all ", flat,
                             " training windows (NED's mouth loss correlates it over time and is 0/0 on constant "
                             "data); are the reconstructions all zero or all the same?"));
    if (flat > 0)
        NED_LOG_WARN(
            "[manip] {} of {} training windows have a constant jaw opening (the mouth loss is undefined "
            "on them; a batch that draws one stops the run as diverged)",
            flat, data.train.size());
    NED_LOG_INFO("[manip] {} training windows from {} files, {} validation windows from {} files", data.train.size(),
                 train_files.size(), data.val.size(), val_files.size());
    if (data.val.size() == 0) NED_LOG_WARN("[manip] no validation windows: validation losses are not computed");
    return data;
}

/// Seeded He initialisation, or --init-from (read by rank 0; broadcast later), on the device.
Nets make_nets(const TrainRun& run) {
    const TrainOptions& o = run.o;
    torch::manual_seed(o.seed);
    Nets nets(o.net);
    nets.he_init();
    if (!o.init_from.empty() && run.main_rank) {
        bool has_d = false;
        load_checkpoint_into(o.init_from, nets, &has_d);
        NED_LOG_INFO("[manip] fine-tuning from {}{}", o.init_from,
                     has_d ? "" : " (no discriminator in it: D starts fresh)");
    }
    nets.to(run.device);
    return nets;
}

/// --resume: rank 0 reads the networks and optimiser state of the last complete epoch.
void resume(const TrainRun& run, Model& m) {
    if (run.resume_epoch > 0) fault_point("train.resume");
    if (run.resume_epoch == 0 || !run.main_rank) return;
    const std::string net_path = run.folder.file(training::epoch_file(run.resume_epoch, ".safetensors")).string();
    const std::string opt_path = run.folder.file(training::epoch_file(run.resume_epoch, ".optim.safetensors")).string();
    load_checkpoint_into(net_path, m.nets);
    const st::File f = st::load(opt_path, st::Role::Input);
    f.require_format("ned.manipulator.optim", 1);
    m.opt_g.load(f, "optim.generator.");
    m.opt_d.load(f, "optim.discriminator.");
    m.opt_e.load(f, "optim.style_encoder.");
    m.opt_m.load(f, "optim.mapping_network.");
    m.lr = m.opt_g.lr;
    m.f_lr = m.opt_m.lr;
    NED_LOG_INFO("[manip] resuming after epoch {} from {}", run.resume_epoch, net_path);
}

/// Identical initial weights, optimiser state and learning rates on every rank: rank 0's.
void share_state(const TrainRun& run, Model& m, int64_t B) {
    if (run.world <= 1) return;
    std::vector<double> lrs{m.lr, m.f_lr};
    training::broadcast_state(
        *run.ctx,
        {m.nets.generator.get(), m.nets.style_encoder.get(), m.nets.mapping_network.get(), m.nets.discriminator.get()},
        m.adams(), lrs);
    m.lr = lrs[0];
    m.f_lr = lrs[1];
    NED_LOG_INFO("[manip] rank {}/{}: {} windows per rank per iteration, global batch {}", run.rank, run.world, B,
                 run.world * B);
}

Schedule plan_steps(const TrainRun& run, int64_t windows) {
    const TrainOptions& o = run.o;
    Schedule s;
    s.B = std::min<int64_t>(o.batch_size, windows);  // per rank
    s.GB = s.B * run.world;                          // global batch
    s.iters = o.iters_per_epoch > 0 ? o.iters_per_epoch : (windows + s.GB - 1) / s.GB;
    s.total_iters = s.iters * std::max(0, o.epochs - run.resume_epoch);
    return s;
}

// ---- 4. run: one epoch ------------------------------------------------------------------------------

/// Backward into the parameters of the networks that step, their gradients (and the loss) averaged over the ranks,
/// then the check: a non-finite loss stops the run before the step that would spread it into the weights (the
/// checkpoints of earlier epochs stay as they are); averaged first, every rank sees the same value and stops
/// together.
double backward(const TrainRun& run, Nets& nets, const torch::Tensor& loss, dist::GradReducer& red,
                const std::vector<torch::Tensor>& params, const char* which, int epoch, int64_t it) {
    zero_grads(nets);
    std::vector<double> v{loss.item<double>()};
    // also when non-finite: every rank must offer the same gradients to average
    if (run.o.overlap_reduce) {
        red.prepare(1.0 / static_cast<double>(run.world));
        loss.backward({}, c10::nullopt, false, c10::optional<at::TensorList>(params));
        red.finish(&v);
    } else {
        loss.backward({}, c10::nullopt, false, c10::optional<at::TensorList>(params));
        run.ctx->average_gradients(params, &v);
    }
    if (!std::isfinite(v[0]))
        throw Error(cat("[manip] training diverged: ", which, " loss is ", v[0], " at epoch ", epoch + 1, " iteration ",
                        it + 1,
                        " (try a lower --lr; check the dataset); no checkpoint of this epoch "
                        "was written"));
    return v[0];
}

/// One iteration: two D steps (latent, reference), then the G+M+E step (latent) and the G step (reference).
/// The global batch is drawn identically on every rank; this rank takes rows [rank*B, (rank+1)*B).
void train_iteration(const TrainRun& run, Model& m, Reducers& red, const WindowSet& train, const Schedule& s,
                     IndexStream& src, IndexStream& ref, at::Generator& gen, int epoch, int64_t it, Sums& sums) {
    const int64_t B = s.B, rank = run.rank;
    const auto gsi = src.next(s.GB), gri = ref.next(s.GB);
    const std::vector<int64_t> si(gsi.begin() + rank * B, gsi.begin() + (rank + 1) * B),
        ri(gri.begin() + rank * B, gri.begin() + (rank + 1) * B);
    const torch::Device dev = run.device;
    auto x_real = train.windows(si).to(dev), y_org = train.label_tensor(si).to(dev);
    auto x_ref = train.windows(ri).to(dev), y_trg = train.label_tensor(ri).to(dev);
    auto z_trg = torch::randn({s.GB, kLatentDim}, gen).slice(0, rank * B, (rank + 1) * B).to(dev);
    const torch::Tensor none;
    Nets& nets = m.nets;

    auto dl = d_loss(nets, x_real, y_org, y_trg, z_trg, none);
    const double dl_v = backward(run, nets, dl.total, red.d, red.d_params, "discriminator (latent)", epoch, it);
    m.opt_d.step();
    auto dr = d_loss(nets, x_real, y_org, y_trg, none, x_ref);
    const double dr_v = backward(run, nets, dr.total, red.d, red.d_params, "discriminator (reference)", epoch, it);
    m.opt_d.step();

    auto gl = g_loss(nets, run.o.lambdas, x_real, y_org, y_trg, z_trg, none);
    const double gl_v = backward(run, nets, gl.total, red.gme, red.gme_params, "generator (latent)", epoch, it);
    m.opt_g.step();
    m.opt_m.step();
    m.opt_e.step();
    auto gr = g_loss(nets, run.o.lambdas, x_real, y_org, y_trg, none, x_ref);
    const double gr_v = backward(run, nets, gr.total, red.g, red.g_params, "generator (reference)", epoch, it);
    m.opt_g.step();

    sums.d += dl_v + dr_v;
    sums.g += gl_v + gr_v;
    ++sums.n;
}

/// The training iterations of an epoch; its mean training losses. Every random draw of an epoch derives from
/// (seed, epoch), so --resume continues bit for bit.
EpochLosses train_epoch(const TrainRun& run, Model& m, Reducers& red, const WindowSet& train, const Schedule& s,
                        int epoch, int64_t& done_iters) {
    std::mt19937_64 rng(mix(run.o.seed, 2, epoch));
    auto gen = at::detail::createCPUGenerator(mix(run.o.seed, 3, epoch));
    IndexStream src(train.size(), rng), ref(train.size(), rng);
    m.nets.train(true);
    m.set_lr();
    Sums tr;
    for (int64_t it = 0; it < s.iters; ++it) {
        fault_point("train.step");
        train_iteration(run, m, red, train, s, src, ref, gen, epoch, it, tr);
        ++done_iters;
        if (run.o.progress) run.o.progress(done_iters, s.total_iters);
    }
    EpochLosses el;
    el.epoch = epoch + 1;
    el.lr = m.lr;
    el.train_d = tr.d / std::max<int64_t>(1, tr.n);
    el.train_g = tr.g / std::max<int64_t>(1, tr.n);
    return el;
}

/// Validation losses (no grad; weighted by batch size; NED's skip-first/divide-by-train bugs fixed).
void validate_epoch(const TrainRun& run, Model& m, const WindowSet& val, int epoch, EpochLosses& el) {
    fault_point("train.validate");
    const TrainOptions& o = run.o;
    torch::NoGradGuard no_grad;
    m.nets.train(false);
    std::mt19937_64 vrng(mix(o.seed, 4, epoch));
    auto vgen = at::detail::createCPUGenerator(mix(o.seed, 5, epoch));
    IndexStream vref(val.size(), vrng);
    Sums vs;
    for (int64_t b = 0; b < val.size(); b += o.batch_size) {
        const int64_t e = std::min<int64_t>(b + o.batch_size, val.size());
        std::vector<int64_t> si;
        for (int64_t i = b; i < e; ++i) si.push_back(i);
        const auto ri = vref.next(e - b);
        const torch::Device dev = run.device;
        auto x_real = val.windows(si).to(dev), y_org = val.label_tensor(si).to(dev);
        auto x_ref = val.windows(ri).to(dev), y_trg = val.label_tensor(ri).to(dev);
        auto z_trg = torch::randn({e - b, kLatentDim}, vgen).to(dev);
        const torch::Tensor none;
        auto dl = d_loss(m.nets, x_real, y_org, y_trg, z_trg, none);
        auto dr = d_loss(m.nets, x_real, y_org, y_trg, none, x_ref);
        auto gl = g_loss(m.nets, o.lambdas, x_real, y_org, y_trg, z_trg, none);
        auto gr = g_loss(m.nets, o.lambdas, x_real, y_org, y_trg, none, x_ref);
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

/// Linear decay (NED: after the epoch, once epoch+1 > niter - niter_decay).
void decay_lr(const TrainOptions& o, Model& m, int epoch) {
    if (o.decay_epochs > 0 && epoch + 1 > o.epochs - o.decay_epochs) {
        const double lr_new = m.lr - o.lr / o.decay_epochs;
        if (lr_new >= 0) {
            m.lr = lr_new;
            m.f_lr = m.f_lr - o.f_lr / o.decay_epochs;
        }
    }
}

/// An epoch's checkpoint is its network file plus its optimiser file, written together (a full disk leaves
/// neither, so that --resume never meets half an epoch and a folder this run created is left empty, and then
/// removed, when no complete epoch was saved); then the latest networks and the loss log.
void save_epoch(const TrainRun& run, Model& m, const EpochLosses& el, bool has_val, const std::string& latest) {
    const TrainOptions& o = run.o;
    const std::map<std::string, std::string> meta = {
        {"epoch", std::to_string(el.epoch)}, {"seed", std::to_string(o.seed)}, {"dataset", o.dataset}};
    const fs::path net_file = run.folder.file(training::epoch_file(el.epoch, ".safetensors"));
    const fs::path opt_file = run.folder.file(training::epoch_file(el.epoch, ".optim.safetensors"));
    training::write_together({net_file, opt_file}, [&] {
        fault_point("train.checkpoint");
        save_checkpoint(net_file.string(), m.nets, meta);
        st::File f;
        f.metadata = meta;
        f.metadata["format"] = "ned.manipulator.optim";
        f.metadata["version"] = "1";
        m.set_lr();  // the learning rates of the next epoch
        m.opt_g.save(f, "optim.generator.");
        m.opt_d.save(f, "optim.discriminator.");
        m.opt_e.save(f, "optim.style_encoder.");
        m.opt_m.save(f, "optim.mapping_network.");
        if (const std::string bad = st::first_non_finite(f); !bad.empty())
            throw Error(cat(opt_file.string(), ": not written: tensor '", bad,
                            "' holds a NaN or an infinity (the "
                            "training diverged; try a lower --lr)"));
        st::save(opt_file.string(), f);
    });
    std::error_code ec;
    if (el.epoch > 1) fs::remove(run.folder.file(training::epoch_file(el.epoch - 1, ".optim.safetensors")), ec);
    save_checkpoint(latest, m.nets, meta);
    nlohmann::json j = {{"epoch", el.epoch}, {"lr", el.lr}, {"train_d", el.train_d}, {"train_g", el.train_g}};
    if (has_val) {
        j["val_d"] = el.val_d;
        j["val_g"] = el.val_g;
        j["val_adv"] = el.val_adv;
        j["val_sty"] = el.val_sty;
        j["val_cyc"] = el.val_cyc;
        j["val_mouth_corr"] = el.val_mouth;
    }
    run.folder.append_losses(j);
}

/// One epoch: train; rank 0 validates, logs and writes the checkpoints; the learning rates decay.
EpochLosses run_epoch(const TrainRun& run, Model& m, Reducers& red, const Data& data, const Schedule& s, int epoch,
                      int64_t& done_iters, const std::string& latest) {
    EpochLosses el = train_epoch(run, m, red, data.train, s, epoch, done_iters);
    fault_point("train.epoch_end");  // rank 0 validates and writes its checkpoints from here
    if (data.val.size() > 0 && run.main_rank) validate_epoch(run, m, data.val, epoch, el);
    if (run.main_rank)
        NED_LOG_INFO(
            "[manip] epoch {}/{}: lr {:.3g}  train D {:.4f} G {:.4f} | val D {:.4f} G {:.4f} (adv {:.4f} sty "
            "{:.4f} cyc {:.4f} mouth corr {:.4f})",
            el.epoch, run.o.epochs, m.lr, el.train_d, el.train_g, el.val_d, el.val_g, el.val_adv, el.val_sty,
            el.val_cyc, el.val_mouth);
    decay_lr(run.o, m, epoch);
    // every rank holds the same weights, so all of them stop here alike
    if (const std::string bad = training::first_non_finite(m.adams()); !bad.empty())
        throw Error(cat("[manip] training diverged in epoch ", epoch + 1, ": ", bad,
                        " is not finite (try a lower "
                        "--lr; this run: ",
                        run.o.lr, "); no checkpoint of this epoch was written"));
    if (run.main_rank) save_epoch(run, m, el, data.val.size() > 0, latest);
    return el;
}

// ---- 5. report --------------------------------------------------------------------------------------

void report(const TrainRun& run, const Reducers& red, TrainResult& result) {
    result.reduce_d = red.d.stats();
    for (const auto* r : {&red.gme, &red.g}) {
        const auto st = r->stats();
        result.reduce_g.steps += st.steps;
        result.reduce_g.launched_in_backward += st.launched_in_backward;
        result.reduce_g.launched_in_finish += st.launched_in_finish;
        result.reduce_g.ignored_hooks += st.ignored_hooks;
    }
    if (run.world > 1) {
        const auto &d = result.reduce_d, &g = result.reduce_g;
        NED_LOG_INFO(
            "[manip] rank {}: gradient all-reduce: {} steps, {} buckets launched during the backward pass, {} "
            "after it; gradient hooks outside their step: D {}, G {}",
            run.rank, d.steps + g.steps, d.launched_in_backward + g.launched_in_backward,
            d.launched_in_finish + g.launched_in_finish, d.ignored_hooks, g.ignored_hooks);
    }
}

}  // namespace

void TrainOptions::validate() const {
    if (epochs < 1) throw OptionError("TrainOptions::epochs", cat(" must be >= 1 (got ", epochs, ")"));
    if (decay_epochs < 0 || decay_epochs > epochs)
        throw OptionError("TrainOptions::decay_epochs",
                          cat(" must be in 0..epochs (", epochs, ") (got ", decay_epochs, ")"));
    if (batch_size < 1) throw OptionError("TrainOptions::batch_size", cat(" must be >= 1 (got ", batch_size, ")"));
    if (iters_per_epoch < 0)
        throw OptionError("TrainOptions::iters_per_epoch", cat(" must be >= 0 (got ", iters_per_epoch, ")"));
    if (!(val_fraction >= 0 && val_fraction < 1))
        throw OptionError("TrainOptions::val_fraction", cat(" must be in [0, 1) (got ", val_fraction, ")"));
    if (resume && !init_from.empty())
        throw OptionError("TrainOptions::resume", cat(" and init_from exclude each other (got ", init_from, ")"));
    if (!(std::isfinite(lr) && lr > 0 && lr <= 1))
        throw OptionError("TrainOptions::lr", cat(" must be in (0, 1] (got ", lr, ")"));
    if (!(std::isfinite(f_lr) && f_lr >= 0 && f_lr <= 1))
        throw OptionError("TrainOptions::f_lr", cat(" must be in [0, 1] (got ", f_lr, ")"));
    for (const auto& [name, v] : {std::pair<const char*, double>{"TrainOptions::lambdas.sty", lambdas.sty},
                                  {"TrainOptions::lambdas.cyc", lambdas.cyc},
                                  {"TrainOptions::lambdas.mouth", lambdas.mouth}})
        if (!(std::isfinite(v) && v >= 0 && v <= 1e6))
            throw OptionError(name, cat(" must be in [0, 1e6] (got ", v, ")"));
}

TrainResult train_manipulator(const TrainOptions& o) {
    o.validate();
    TrainRun run(o);
    plan_outputs(run);
    const Data data = load_data(o);
    Nets nets = make_nets(run);
    start_outputs(run);
    Model m(std::move(nets), o);
    resume(run, m);
    const Schedule s = plan_steps(run, data.train.size());
    share_state(run, m, s.B);
    if (run.resume_epoch >= o.epochs)
        NED_LOG_WARN("[manip] {} already holds epoch {} of {}; nothing to do", o.out_dir, run.resume_epoch, o.epochs);

    TrainResult result;
    result.checkpoint = run.folder.file("manipulator.safetensors").string();
    Reducers red(run.ctx, m.nets);
    if (run.world > 1)
        NED_LOG_INFO("[manip] rank {}/{}: gradient all-reduce {} (buckets: D {}, G+M+E {}, G {})", run.rank, run.world,
                     o.overlap_reduce ? "overlapping the backward pass" : "after the backward pass", red.d.buckets(),
                     red.gme.buckets(), red.g.buckets());
    int64_t done_iters = 0;
    for (int epoch = run.resume_epoch; epoch < o.epochs; ++epoch)
        result.epochs.push_back(run_epoch(run, m, red, data, s, epoch, done_iters, result.checkpoint));
    report(run, red, result);
    return result;
}

}  // namespace ned::manip
