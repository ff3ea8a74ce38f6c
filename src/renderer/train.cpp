// `ned train-renderer` library side: see include/ned/renderer/train.hpp. The footage and its sampling are in
// train_data.cpp, one training window in train_step.cpp; this file is the run as its plan (train_renderer at the
// end): validate, load the footage and networks, plan the outputs, run the epochs (state, validation, outputs),
// report. The run folder, the loss log, rank 0's state broadcast and the checkpoint helpers are the training
// harness's (ned/training/), shared with `ned train-manipulator`.
#include "ned/renderer/train.hpp"

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <tuple>

#include "ned/core/cpu_features.hpp"
#include "ned/core/error.hpp"
#include "ned/core/fault.hpp"
#include "ned/core/fs_util.hpp"
#include "ned/core/image_io.hpp"
#include "ned/core/log.hpp"
#include "ned/core/safetensors.hpp"
#include "ned/core/torch_util.hpp"
#include "ned/renderer/checkpoint.hpp"
#include "ned/renderer/render.hpp"
#include "ned/training/run_folder.hpp"
#include "ned/training/state.hpp"
#include "renderer/train_internal.hpp"

namespace fs = std::filesystem;

namespace ned::renderer {
using namespace train_detail;

namespace {

constexpr const char* kStateFormat = "ned.renderer.state";

std::string hexf(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%a", v);
    return buf;
}

void check_options(const TrainOptions& o) {
    o.validate();
    if (o.precision == Precision::Fp16 && !resolve_device(o.device).is_cuda())
        throw OptionError("TrainOptions::precision", " fp16 needs a CUDA device; on the CPU use fp32 or bf16");
    if (o.precision == Precision::Bf16 && !resolve_device(o.device).is_cuda())
        cpu::require_native_bf16("TrainOptions::precision");
    if (o.vgg.empty() && !o.no_vgg)
        throw ModelError(
            "[train-renderer] the VGG19 perceptual loss needs --vgg models/vgg19.safetensors (convert "
            "torchvision's weights with scripts/convert_vgg19.py), or give --no-vgg (lower quality)");
}

/// The previous-run checks of --out: --resume needs its state, a fresh run refuses a folder holding one.
void check_run_state(const TrainOptions& o) {
    const fs::path out(o.out);
    const fs::path state_path = out / "state.safetensors";
    std::error_code ec;
    if (fs::exists(out, ec) && !fs::is_directory(out, ec))
        throw InputError(cat("[train-renderer] --out ", out.string(),
                             ": exists and is not a folder (expected the output "
                             "folder of the run)"));
    if (o.resume && !fs::is_regular_file(state_path, ec))
        throw InputError(cat("[train-renderer] --resume: ", state_path.string(), " does not exist"));
    if (!o.resume && fs::exists(state_path, ec) && !o.overwrite)
        throw InputError(cat("[train-renderer] ", out.string(),
                             " holds a previous run (use --resume to continue it or -y "
                             "to start over)"));
}

/// Name of the first parameter or Adam moment of the run that holds a NaN or an infinity; empty if none.
std::string non_finite_state(Trainer& tr) { return training::first_non_finite({tr.optG.get(), tr.optD.get()}); }

/// The networks of a run, in the order of their state (the broadcast, moving them to the device).
std::vector<torch::nn::Module*> networks(Trainer& tr) { return {tr.G.get(), tr.D.get(), tr.Dm.get()}; }

/// Held-out frames rendered sequentially as `ned render` does: masked L1 and PSNR, and the preview sheet.
/// A non-finite generated frame sets l1 and psnr to NaN (divergence; no preview is written).
bool validate(Trainer& tr, const Dataset& d, int preview_frames, const fs::path& preview, double& l1, double& psnr) {
    l1 = psnr = 0;
    if (d.val.frames.empty()) return false;
    const int S = d.size;
    torch::NoGradGuard ng;
    tr.G->eval();
    const Actor& a = d.actors[d.val.actor];
    torch::Tensor prev = torch::zeros({1, 6, S, S}, torch::TensorOptions().device(tr.device));
    std::vector<FrameData> hist;
    double abs_sum = 0, sq_sum = 0, n = 0;
    std::vector<cv::Mat> rows;
    const auto& frames = d.val.frames;
    const int P = std::min<int>(preview_frames, static_cast<int>(frames.size()));
    for (size_t i = 0; i < frames.size(); ++i) {
        hist.push_back(load_frame(a, frames[i]));  // the last (up to) 3 frames, oldest first
        const size_t h = hist.size();
        const FrameData& c0 = hist[h >= 3 ? h - 3 : 0];
        const FrameData& c1 = hist[h >= 2 ? h - 2 : 0];
        const FrameData& c2 = hist[h - 1];
        const auto cond = torch::cat({c0.cond, c1.cond, c2.cond}).unsqueeze(0).to(tr.device);
        const auto mask = c2.mask.unsqueeze(0).to(tr.device);
        const auto fake = tr.G->forward(cond, prev, mask);
        prev = torch::cat({prev.narrow(1, 3, 3), fake}, 1);
        const auto f8 = ((fake[0].cpu() + 1) / 2 * 255).clamp(0, 255).floor();
        const auto r8 = ((c2.real + 1) / 2 * 255).clamp(0, 255).round();
        const auto m = c2.mask.expand_as(f8) > 0.5;
        abs_sum += (fake[0].cpu() - c2.real).abs().masked_select(m).sum().item<double>();
        sq_sum += (f8 - r8).pow(2).masked_select(m).sum().item<double>();
        n += m.sum().item<double>();
        const bool show = P > 0 && (i == 0 || (P > 1 && i == frames.size() - 1) || (P > 2 && i == frames.size() / 2));
        if (show) {
            cv::Mat nmfc = output_to_image(c2.cond.narrow(0, 0, 3) * 2 - 1);
            cv::Mat row;
            cv::hconcat(std::vector<cv::Mat>{nmfc, output_to_image(c2.real), output_to_image(fake)}, row);
            rows.push_back(row);
        }
        if (hist.size() > 3) hist.erase(hist.begin());
    }
    tr.G->train();
    if (n > 0) {
        l1 = abs_sum / n;
        const double mse = sq_sum / n;
        // NaN is divergence, not a perfect match: 99 dB only for an exact one
        psnr = !std::isfinite(mse) || !std::isfinite(l1) ? std::nan("")
               : mse > 0                                 ? 10 * std::log10(255.0 * 255.0 / mse)
                                                         : 99.0;
        if (std::isnan(psnr)) {
            l1 = psnr;
            return true;
        }
    }
    if (!rows.empty()) {
        cv::Mat sheet;
        cv::vconcat(rows, sheet);
        AtomicFile f(preview.string(), true);
        write_image(f.temp_path(), sheet, "[train-renderer] preview", f.path());
        f.commit();
    }
    return true;
}

// ---- the run ----------------------------------------------------------------------------------------

/// A run: its job and folder, the footage, the networks, and where the training stands (what state.safetensors
/// holds besides the weights).
struct Run {
    const TrainOptions& o;
    const std::shared_ptr<dist::Context> ctx;
    const bool main_rank;
    const int64_t world, rank;
    const fs::path out, state_path;
    training::RunFolder folder;
    Dataset data;
    int64_t N = 0, B = 0, GB = 0, batches = 0;  ///< sub-sequences; clips per rank and per step; steps per epoch
    Trainer tr;
    std::string init_note = "scratch";
    double lr = 0;
    std::map<std::string, std::string> run_meta;
    int start_epoch = 0;
    int64_t start_pos = 0, steps = 0, windows_in_epoch = 0;
    double sums[kNumLosses] = {0};
    std::string last_good;  ///< what --out keeps when the run diverges (empty: nothing)
    std::chrono::steady_clock::time_point t_start, last_save;

    explicit Run(const TrainOptions& opts)
        : o(opts), ctx(training::job(opts.dist)), main_rank(ctx->is_main()), world(ctx->world()), rank(ctx->rank()),
          out(opts.out), state_path(out / "state.safetensors"), folder(out, "[train-renderer] ", main_rank) {}

    /// Divergence: one line naming where, what to try, and what is kept (nothing non-finite is ever written).
    Error diverged(int epoch, const std::string& what) const {
        return Error(cat(
            "[train-renderer] training diverged in epoch ", epoch + 1, " (step ", steps, "): ", what,
            "; try a lower --lr (this run: ", lr, "); ",
            last_good.empty() ? std::string("no checkpoint was written") : cat(out.string(), " keeps ", last_good)));
    }
    /// The weights, optimiser state and position (`epoch`, sub-sequences of it done) into state.safetensors.
    void save_state(int epoch, int64_t position) {
        st::File f;
        f.metadata = run_meta;
        f.metadata["format"] = kStateFormat;
        f.metadata["version"] = "1";
        f.metadata["epoch"] = std::to_string(epoch);
        f.metadata["position"] = std::to_string(position);
        f.metadata["world"] = std::to_string(world);
        f.metadata["steps"] = std::to_string(steps);
        f.metadata["windows_in_epoch"] = std::to_string(windows_in_epoch);
        f.metadata["precision"] = precision_name(o.precision);
        if (tr.scaleG.enabled) {
            f.metadata["loss_scale.G"] = hexf(tr.scaleG.scale);
            f.metadata["loss_scale.D"] = hexf(tr.scaleD.scale);
        }
        for (int k = 0; k < kNumLosses; ++k) f.metadata[cat("sum.", kLossNames[k])] = hexf(sums[k]);
        auto add = [&](const torch::nn::Module& m, const std::string& prefix) {
            for (const auto& p : m.named_parameters(true))
                f.tensors[prefix + p.key()] = from_torch(p.value().detach().to(torch::kCPU));
        };
        add(*tr.G, "generator.");
        add(*tr.D, "discriminator.");
        add(*tr.Dm, "mouth_discriminator.");
        tr.optG->save(f, "optim.G.");
        tr.optD->save(f, "optim.D.");
        require_finite(f, state_path.string());
        st::save(state_path.string(), f);
    }
};

// ---- load the footage and the networks --------------------------------------------------------------

/// Rank 0 prepares the cache under DIR, the other ranks read it once it is there.
void prepare_data(Run& r) {
    fault_point("train.data");
    r.data = make_dataset(r.o, r.out, r.main_rank);
    r.ctx->main_done("prepared");
    r.ctx->wait_for_main("prepared");
    r.N = static_cast<int64_t>(r.data.items.size());
    r.B = r.o.batch_size;
    r.GB = r.B * r.world;  // per rank, global
    r.batches = (r.N + r.GB - 1) / r.GB;
}

/// The networks: from state.safetensors (--resume; read into `state`), --init-from, or seeded from scratch, on
/// the device in training mode, with the compute type of --precision.
void make_networks(Run& r, st::File& state) {
    const TrainOptions& o = r.o;
    torch::manual_seed(o.seed);
    Trainer& tr = r.tr;
    tr.device = resolve_device(o.device);
    // mixed precision: float32 master weights and optimiser state, forward and backward in bf16/fp16
    if (o.precision == Precision::Fp16) {  // (on CUDA: check_options)
        tr.compute = torch::kHalf;
        tr.scaleG.enabled = tr.scaleD.enabled = true;
    } else if (o.precision == Precision::Bf16) {
        tr.compute = torch::kBFloat16;  // (a CPU without native bf16 was refused in check_options)
    }
    if (o.resume) {
        state = st::load(r.state_path.string(), st::Role::Model);
        state.require_format(kStateFormat, 1);
        RendererNets nets = renderer_from_file(state, torch::kCPU, true);
        tr.G = nets.generator;
        tr.D = nets.discriminator;
        tr.Dm = nets.mouth_discriminator;
        if (tr.D.is_empty() || tr.Dm.is_empty())
            throw InputError(cat("[train-renderer] ", r.state_path.string(), " has no discriminators"));
        // (a state written before crop_size was recorded: its size is unknown and the shapes agree at any size)
        const int trained = trained_crop_size(nets.metadata, r.state_path.string());
        if (nets.metadata.count("crop_size") && trained != r.data.size)
            throw InputError(cat("[train-renderer] ", r.state_path.string(), " was trained at ", trained, "x", trained,
                                 " faces; the work folders have ", r.data.size, "x", r.data.size,
                                 " (resume with the same crop size, or start a new --out)"));
        r.init_note = nets.metadata.count("init") ? nets.metadata.at("init") : "resumed";
    } else if (!o.init_from.empty()) {
        RendererNets nets = load_renderer(o.init_from, torch::kCPU, true);
        tr.G = nets.generator;
        tr.D = nets.discriminator;
        tr.Dm = nets.mouth_discriminator;
        r.init_note = o.init_from;
        const int trained = trained_crop_size(nets.metadata, o.init_from);
        if (trained != r.data.size && r.main_rank)  // fully convolutional: G, D and Dm run at any size
            NED_LOG_INFO("[train-renderer] fine-tuning {} (trained at {}x{} faces) at {}x{}", o.init_from, trained,
                         trained, r.data.size, r.data.size);
    } else {
        GeneratorConfig gc;
        gc.ngf = o.ngf;
        gc.n_blocks = o.n_blocks;
        tr.G = Generator(gc);
        init_weights(*tr.G);
    }
    DiscriminatorConfig dc;
    dc.ndf = o.ndf;
    if (tr.D.is_empty()) {
        tr.D = MultiscaleDiscriminator(dc);
        init_weights(*tr.D);
    }
    if (tr.Dm.is_empty()) {
        tr.Dm = MultiscaleDiscriminator(tr.D->cfg);
        init_weights(*tr.Dm);
    }
    for (torch::nn::Module* m : networks(tr)) {
        m->to(tr.device);
        m->train();
    }
}

/// The learning rate (NED's paper: 2e-4 from scratch, 4e-5 when fine-tuning), the optimisers and the VGG19 loss.
void make_training(Run& r) {
    const TrainOptions& o = r.o;
    const bool fine_tune = !o.init_from.empty() || r.init_note != "scratch";
    r.lr = o.lr > 0 ? o.lr : (fine_tune ? 4e-5 : 2e-4);
    make_optimisers(r.tr, r.lr);
    if (!o.no_vgg) {
        r.tr.vgg = load_vgg19(o.vgg, r.tr.device);
        if (r.tr.compute != torch::kFloat) r.tr.vgg->to(r.tr.compute);  // frozen: converted once
    } else if (r.main_rank) {
        NED_LOG_WARN("[train-renderer] --no-vgg: training without the VGG19 perceptual loss (lower quality)");
    }
}

/// --resume: the optimiser state, loss scales, position and loss sums of the interrupted run.
void resume(Run& r, const st::File& f) {
    fault_point("train.resume");
    Trainer& tr = r.tr;
    tr.optG->load(f, "optim.G.");
    tr.optD->load(f, "optim.D.");
    tr.optG->lr = tr.optD->lr = r.lr;
    if (tr.scaleG.enabled) {  // fp16: the loss scales of the interrupted run (when it was fp16 too)
        tr.scaleG.scale = std::strtod(f.meta("loss_scale.G", "65536").c_str(), nullptr);
        tr.scaleD.scale = std::strtod(f.meta("loss_scale.D", "65536").c_str(), nullptr);
    }
    r.start_epoch = std::stoi(f.meta("epoch"));
    // position = sub-sequences of the epoch's order already trained on (rank-count independent); files of the
    // first version hold the batch index of a one-process run
    r.start_pos = f.metadata.count("position") ? std::stoll(f.meta("position"))
                                               : std::stoll(f.meta("batch", "0")) * r.o.batch_size;
    r.steps = std::stoll(f.meta("steps"));
    r.windows_in_epoch = std::stoll(f.meta("windows_in_epoch", "0"));
    for (int k = 0; k < kNumLosses; ++k)
        r.sums[k] = std::strtod(f.meta(cat("sum.", kLossNames[k]), "0").c_str(), nullptr);
    if (f.meta("seed") != std::to_string(r.o.seed))
        NED_LOG_WARN("[train-renderer] resuming a run made with --seed {} (now {})", f.meta("seed"), r.o.seed);
    if (r.main_rank)
        NED_LOG_INFO("[train-renderer] resuming at epoch {}, sub-sequence {} of {} ({} steps done{})",
                     r.start_epoch + 1, r.start_pos, r.N, r.steps,
                     f.meta("world", "1") != std::to_string(r.world)
                         ? cat("; the run had ", f.meta("world", "1"), " ranks, now ", r.world)
                         : std::string());
    r.last_good = "the state it resumed from";
}

/// The gradient sums over the ranks (hooks that overlap the all-reduce with the backward pass), and identical
/// weights and optimiser state on every rank: rank 0's.
void share_state(Run& r) {
    make_reducers(r.tr, r.ctx);
    if (r.world <= 1) return;
    std::vector<double> none;
    training::broadcast_state(*r.ctx, networks(r.tr), {r.tr.optG.get(), r.tr.optD.get()}, none);
    NED_LOG_INFO("[train-renderer] rank {}/{}: {} clips per rank per step, global batch {}, {} gradient buckets",
                 r.rank, r.world, r.B, r.GB, r.tr.redG->buckets() + r.tr.redD->buckets());
}

// ---- plan the outputs ---------------------------------------------------------------------------------

/// DIR/preview, and a fresh run drops the state, checkpoints and logs of an earlier one (the cache stays); only
/// now, after the inputs and --init-from have loaded.
void start_outputs(Run& r) {
    r.folder.create("preview");
    if (r.o.resume) return;
    r.folder.clear_previous_run(
        [](const std::string& n) {
            return n == "state.safetensors" || n == "losses.jsonl" || n == "renderer.safetensors" ||
                   (n.rfind("epoch_", 0) == 0 && fs::path(n).extension() == ".safetensors");
        },
        {"preview"});
}

// ---- run: the epochs ------------------------------------------------------------------------------------

/// The global batch of the epoch's `order` that starts at `first`: this rank's slice of clips (the last, partial
/// batch can leave a rank without clips), trained window by window.
void train_batch(Run& r, const std::vector<size_t>& order, int64_t first, int epoch, int n_gen) {
    const TrainOptions& o = r.o;
    const int64_t global = std::min(r.GB, r.N - first);
    const int64_t begin = std::min(global, r.rank * r.B), end = std::min(global, (r.rank + 1) * r.B);
    const double share = static_cast<double>(end - begin) / static_cast<double>(global);
    const Clips clips = sample_clips(r.data, order, first, global, begin, end, n_gen, o.seed, epoch, o.augment);
    const int S = r.data.size;
    torch::Tensor prev = torch::zeros({end - begin, 6, S, S}, torch::TensorOptions().device(r.tr.device));
    for (size_t w0 = 2; w0 < clips.length; w0 += o.window) {
        fault_point("train.step");
        const auto l = train_window(r.tr, clips, w0, o.window, prev, share, S);
        ++r.windows_in_epoch;
        ++r.steps;
        // the losses are the global means: every rank stops at the same step. fp16 excepted: there the loss scale
        // skips a step whose values overflowed (the weights are checked before each save)
        if (r.tr.compute != torch::kHalf)
            for (int k = 0; k < kNumLosses; ++k)
                if (!std::isfinite(l[k]))
                    throw r.diverged(epoch,
                                     cat("the ", kLossNames[k], " loss is ", std::isnan(l[k]) ? "NaN" : "infinite"));
        for (int k = 0; k < kNumLosses; ++k)
            if (std::isfinite(l[k])) r.sums[k] += l[k];
        if (o.after_step) o.after_step(r.steps);
    }
}

/// The steps of an epoch, from the resume position in the first one; progress after every global batch, and
/// rank 0 saves the state every --save-minutes. Returns the generated frames per clip of the epoch.
int train_epoch(Run& r, int epoch, const ProgressFn& progress) {
    const TrainOptions& o = r.o;
    const int n_gen = static_cast<int>(std::min<int64_t>(
        o.max_clip_frames, static_cast<int64_t>(o.clip_frames) << std::min(epoch / std::max(1, o.double_every), 16)));
    // the epoch's order: the same on every rank, from (seed, epoch)
    std::vector<size_t> order(r.N);
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::mt19937_64 erng(mix(o.seed, static_cast<uint64_t>(epoch)));
    std::shuffle(order.begin(), order.end(), erng);
    const int64_t total_batches = static_cast<int64_t>(o.epochs) * r.batches;
    const int64_t first_step = static_cast<int64_t>(r.start_epoch) * r.batches + r.start_pos / r.GB;
    for (int64_t first = (epoch == r.start_epoch ? r.start_pos : 0); first < r.N; first += r.GB) {
        train_batch(r, order, first, epoch, n_gen);
        const int64_t done = first + std::min(r.GB, r.N - first);
        // steps of this run (a resumed run counts from where it starts, so that rate and time left are right)
        if (progress)
            progress(static_cast<long>(epoch * r.batches + (done + r.GB - 1) / r.GB - first_step),
                     static_cast<long>(total_batches - first_step));
        const auto now = std::chrono::steady_clock::now();
        if (r.main_rank && std::chrono::duration<double>(now - r.last_save).count() >= o.save_minutes * 60 &&
            done < r.N) {
            const std::string bad = non_finite_state(r.tr);
            if (!bad.empty()) throw r.diverged(epoch, cat(bad, " is not finite"));
            r.save_state(epoch, done);
            r.last_save = now;
            r.last_good = cat("the state saved in epoch ", epoch + 1);
        }
    }
    return n_gen;
}

/// Rank 0 at the end of an epoch: the held-out frames and preview, the loss log, the checkpoints and the state.
void write_epoch(Run& r, int epoch, nlohmann::json& j, TrainResult& result) {
    double l1 = 0, psnr = 0;
    fault_point("train.validate");
    const bool has_val = validate(r.tr, r.data, r.o.preview_frames,
                                  r.folder.file("preview") / training::epoch_file(epoch + 1, ".jpg"), l1, psnr);
    if (has_val && !(std::isfinite(l1) && std::isfinite(psnr)))
        throw r.diverged(epoch, "the validation frames came out NaN");
    if (has_val) {
        j["val_l1"] = l1;
        j["val_psnr"] = psnr;
    } else {
        j["val_l1"] = nullptr;
        j["val_psnr"] = nullptr;
    }
    j["ranks"] = r.world;
    j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - r.t_start).count();
    r.folder.append_losses(j);
    auto meta = r.run_meta;
    meta["epoch"] = std::to_string(epoch + 1);
    fault_point("train.checkpoint");
    save_renderer(r.folder.file(training::epoch_file(epoch + 1, ".safetensors")).string(), r.tr.G, r.tr.D, r.tr.Dm,
                  meta);
    save_renderer(r.folder.file("renderer.safetensors").string(), r.tr.G, MultiscaleDiscriminator{nullptr},
                  MultiscaleDiscriminator{nullptr}, meta);
    r.save_state(epoch + 1, 0);
    r.last_good = cat("the checkpoints and state of epoch ", epoch + 1);
    r.last_save = std::chrono::steady_clock::now();
    NED_LOG_INFO("[train-renderer] epoch {}/{}: G_GAN {:.3f} G_VGG {:.3f} D_real {:.3f} D_fake {:.3f}{}", epoch + 1,
                 r.o.epochs, j["G_GAN"].get<double>(), j["G_VGG"].get<double>(), j["D_real"].get<double>(),
                 j["D_fake"].get<double>(), has_val ? cat(", validation PSNR ", psnr, " dB") : std::string());
    result.val_psnr = psnr;
    result.has_validation = has_val;
}

/// One epoch: train, check the weights (every rank holds the same: all of them stop here alike), the epoch's mean
/// losses; rank 0 writes (the others go on and wait in the next step's all-reduce).
void run_epoch(Run& r, int epoch, const ProgressFn& progress, TrainResult& result) {
    const int n_gen = train_epoch(r, epoch, progress);
    if (const std::string bad = non_finite_state(r.tr); !bad.empty())
        throw r.diverged(epoch, cat(bad, " is not finite"));
    nlohmann::json j;
    j["epoch"] = epoch + 1;
    j["steps"] = r.steps;
    j["clip_frames"] = n_gen;
    for (int k = 0; k < kNumLosses; ++k) j[kLossNames[k]] = r.windows_in_epoch ? r.sums[k] / r.windows_in_epoch : 0.0;
    std::fill(std::begin(r.sums), std::end(r.sums), 0.0);
    r.windows_in_epoch = 0;
    result.epochs_done = epoch + 1;
    fault_point("train.epoch_end");  // rank 0 validates and writes its checkpoints from here
    if (r.main_rank) write_epoch(r, epoch, j, result);
}

}  // namespace

void TrainOptions::validate() const {
    if (actors.empty())
        throw OptionError("TrainOptions::actors", ": give at least one prepared work folder of the actor");
    if (out.empty()) throw OptionError("TrainOptions::out", " is required");
    for (const auto& [field, v, least] : {std::tuple<const char*, int, int>{"TrainOptions::epochs", epochs, 1},
                                          {"TrainOptions::batch_size", batch_size, 1},
                                          {"TrainOptions::clip_frames", clip_frames, 1},
                                          {"TrainOptions::max_clip_frames", max_clip_frames, 1},
                                          {"TrainOptions::window", window, 1},
                                          {"TrainOptions::subsequence", subsequence, 3},
                                          {"TrainOptions::ngf", ngf, 1},
                                          {"TrainOptions::ndf", ndf, 1},
                                          {"TrainOptions::double_every", double_every, 0},
                                          {"TrainOptions::val_frames", val_frames, 0},
                                          {"TrainOptions::preview_frames", preview_frames, 0}})
        if (v < least) throw OptionError(field, cat(" must be >= ", least, " (got ", v, ")"));
    // 0 is "the default" of the library's options; the CLI refuses it (a value typed is never replaced)
    if (!(std::isfinite(lr) && lr >= 0 && lr <= 1))
        throw OptionError("TrainOptions::lr", cat(" must be a finite number in (0, 1] (got ", lr, ")"));
    if (!(std::isfinite(save_minutes) && save_minutes >= 0))
        throw OptionError("TrainOptions::save_minutes", cat(" must be a finite number >= 0 (got ", save_minutes, ")"));
}

void check_train_inputs(const TrainOptions& o) {
    check_options(o);
    check_run_state(o);
    resolve_device(o.device);  // --device cuda without a GPU
    if (!o.resume && !o.init_from.empty()) load_renderer(o.init_from, torch::kCPU, true);  // ModelError (exit 3)
    if (!o.no_vgg) load_vgg19(o.vgg, torch::kCPU);
}

TrainResult train_renderer(const TrainOptions& o, const ProgressFn& progress) {
    check_options(o);
    check_run_state(o);
    Run r(o);
    prepare_data(r);
    st::File state;
    make_networks(r, state);
    make_training(r);
    if (o.resume) resume(r, state);
    state = st::File();  // free the copy
    share_state(r);
    if (r.main_rank)
        NED_LOG_INFO(
            "[train-renderer] G ngf {} ({} parameters), {} sub-sequences, {} steps per epoch, lr {}, init {}{}",
            r.tr.G->cfg.ngf, parameter_count(*r.tr.G), r.N, r.batches, r.lr, r.init_note,
            o.augment ? "" : ", no augmentation");
    r.run_meta = {{"init", r.init_note}, {"seed", std::to_string(o.seed)}, {"crop_size", std::to_string(r.data.size)}};
    start_outputs(r);

    r.t_start = r.last_save = std::chrono::steady_clock::now();
    TrainResult result;
    for (int epoch = r.start_epoch; epoch < o.epochs; ++epoch) run_epoch(r, epoch, progress, result);
    r.ctx->barrier();  // no rank leaves (and tears its process group down) before the others are done
    result.steps = r.steps;
    result.renderer_path = (r.out / "renderer.safetensors").string();
    if (result.epochs_done == 0) result.epochs_done = r.start_epoch;
    return result;
}

}  // namespace ned::renderer
