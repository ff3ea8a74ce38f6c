// `ned train-renderer WORKDIR... --out DIR`: train (or fine-tune) NED's neural renderer for one actor on
// prepared work folders of the actor's footage. Library: ned/renderer/train.hpp.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "command.hpp"
#include "dist_options.hpp"
#include "shared_options.hpp"
#include "ned/core/error.hpp"
#include "ned/core/log.hpp"
#include "ned/core/output_dir.hpp"
#include "ned/core/progress.hpp"
#include "ned/dist/dist.hpp"
#include "ned/pipeline/prepare_actor.hpp"
#include "ned/renderer/train.hpp"

namespace ned::cli {
namespace {

namespace fs = std::filesystem;

std::string fmt_fixed(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", v);
    return buf;
}

/// --out of train-renderer: checked up front and created once the inputs are checked (core OutputFolder); on a
/// failure given back as it was, unless the run saved a training state first (a diverged run: the last good
/// checkpoints stay, for --resume).
class OutFolder {
public:
    explicit OutFolder(const std::string& path) : folder_(path, "--out") {}
    void create() {
        folder_.create({"cache", "preview"});
        state_time_ = fs::last_write_time(state(), no_state_before_);
    }
    /// After a failure (never throws).
    void restore() noexcept {
        std::error_code ec;
        const auto t = fs::last_write_time(state(), ec);
        if (!ec && (no_state_before_ || t != state_time_)) return;  // this run saved a state: keep its work
        folder_.restore();
    }

private:
    fs::path state() const { return fs::path(folder_.path()) / "state.safetensors"; }
    OutputFolder folder_;
    std::error_code no_state_before_;  ///< set (an error) when there was no state at create()
    fs::file_time_type state_time_{};
};

/// The options of the training itself (epochs to precision); --no-augment into `no_augment`.
void add_training_options(CLI::App* sub, renderer::TrainOptions& o, bool& no_augment) {
    sub->add_option("--epochs", o.epochs, "Epochs (NED: 20)")->check(CLI::PositiveNumber)->capture_default_str();
    sub->add_option("--init-from", o.init_from,
                    "Fine-tune from this ned.renderer checkpoint (NED's meta-renderer, converted; recommended)");
    sub->add_flag("--resume", o.resume, "Continue the run in --out from its last saved state");
    sub->add_option("--seed", o.seed,
                    "Seed of initialisation and sampling (same seed, same data -> same run on the CPU)")
        ->check(uint64_text())
        ->capture_default_str();
    sub->add_option("--batch-size", o.batch_size, "Clips per step (NED's paper: 2)")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    sub->add_option("--ngf", o.ngf, "Generator width from scratch (NED: 64; smaller = faster, lower quality)")
        ->check(CLI::Range(1, 1024))
        ->capture_default_str();
    sub->add_option("--ndf", o.ndf, "Discriminator width from scratch (NED: 64)")
        ->check(CLI::Range(1, 1024))
        ->capture_default_str();
    sub->add_option("--lr", o.lr, "Adam learning rate in (0, 1] (default 2e-4 from scratch, 4e-5 fine-tuning)")
        ->check(finite_range(1e-12, 1));
    CLI::Option* vgg =
        sub->add_option("--vgg", o.vgg, "VGG19 weights for the perceptual loss (scripts/convert_vgg19.py)");
    sub->add_flag("--no-vgg", o.no_vgg, "Train without the perceptual loss (lower quality)")->excludes(vgg);
    sub->add_option("--clip-frames", o.clip_frames,
                    "Generated frames per clip in the first epochs (NED: 12, doubling every 5 epochs up to 48)")
        ->check(CLI::Range(1, 48))
        ->capture_default_str();
    sub->add_option("--subsequence", o.subsequence,
                    "Frames per training sub-sequence (NED: 50; an epoch visits each once)")
        ->check(CLI::Range(3, 100000))
        ->capture_default_str();
    sub->add_option("--val-frames", o.val_frames, "Held-out frames for validation and preview (0 = none)")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    sub->add_option("--save-minutes", o.save_minutes, "Save the training state at least this often")
        ->check(finite_range(0, 1e6))
        ->capture_default_str();
    sub->add_flag("--no-augment", no_augment,
                  "Without NED's train-time augmentation (random affine of the conditioning images, eye-image noise)");
    add_precision_option(sub, o.precision,
                         "fp32, or mixed precision with float32 master weights: bf16 (CPU with AVX512-BF16, CUDA) or "
                         "fp16 (CUDA only, dynamic loss scale)",
                         "TrainOptions::precision");
    map_fields(sub, {{"TrainOptions::actors", "ACTOR"},
                     {"TrainOptions::out", "--out"},
                     {"TrainOptions::epochs", "--epochs"},
                     {"TrainOptions::batch_size", "--batch-size"},
                     {"TrainOptions::ngf", "--ngf"},
                     {"TrainOptions::ndf", "--ndf"},
                     {"TrainOptions::lr", "--lr"},
                     {"TrainOptions::clip_frames", "--clip-frames"},
                     {"TrainOptions::subsequence", "--subsequence"},
                     {"TrainOptions::val_frames", "--val-frames"},
                     {"TrainOptions::save_minutes", "--save-minutes"},
                     {"TrainOptions::precision", "--precision"},
                     {"TrainOptions::resume", "--resume"},
                     {"TrainOptions::init_from", "--init-from"},
                     {"TrainOptions::vgg", "--vgg"}});
}

/// The run: inputs checked, --out created, the actor's videos prepared, the renderer trained.
void run_train_renderer(renderer::TrainOptions opts, const DistCliOptions& d, pipeline::PrepareActorOptions& prep,
                        int stop_after_steps, const CommonOptions& common) {
    if (const int stop = stop_after_steps; stop > 0)
        opts.after_step = [stop](int64_t steps) {
            if (steps < stop) return;
            NED_LOG_WARN("[train-renderer] stopping abruptly after {} steps (--stop-after-steps)", steps);
            std::fflush(nullptr);
            std::_Exit(9);
        };
    opts.device = common.device;
    opts.overwrite = common.overwrite;
    opts.threads = resolve_threads(common.threads);
    opts.dist = make_dist_context(d, opts.device);
    const bool main_rank = opts.dist->is_main();
    prep.out = opts.out;
    prep.device = opts.device;
    prep.threads = opts.threads;
    // Every input is checked before --out is created (rank 0 writes it): --out itself, the options, a previous
    // run, the device, --init-from, VGG19, the work folders and videos, the models.
    std::optional<OutFolder> out_dir;
    if (main_rank) out_dir.emplace(opts.out);
    renderer::check_train_inputs(opts);
    pipeline::check_actor_inputs(opts.actors, prep);
    if (out_dir) out_dir->create();
    try {
        if (!main_rank) opts.dist->wait_for_main("actors prepared");  // then every stage is reused
        opts.actors = pipeline::prepare_actor(opts.actors, prep);
        if (main_rank) opts.dist->main_done("actors prepared");
        ProgressBar bar("train-renderer", 0, main_rank);
        const renderer::TrainResult r = renderer::train_renderer(opts, bar.fn());
        bar.finish();
        if (main_rank) {
            const std::string val = r.has_validation ? cat("validation PSNR ", fmt_fixed(r.val_psnr), " dB")
                                                     : std::string("no validation frames");
            std::printf("train-renderer: %d epochs, %lld steps, %s -> %s\n", r.epochs_done,
                        static_cast<long long>(r.steps), val.c_str(), r.renderer_path.c_str());
        }
    } catch (...) {
        if (out_dir) out_dir->restore();
        throw;
    }
}

void setup(CLI::App& app, const CommonOptions& common) {
    auto o = std::make_shared<renderer::TrainOptions>();
    auto d = std::make_shared<DistCliOptions>();
    CLI::App* sub =
        app.add_subcommand("train-renderer",
                           "Train the neural face renderer (NED's Head2Head++ G with image and mouth discriminators) "
                           "for one actor, from scratch or fine-tuned from NED's meta-renderer");
    auto prep = std::make_shared<pipeline::PrepareActorOptions>();
    sub->add_option("ACTOR", o->actors,
                    "The actor's footage: video files, folders of videos, or work folders already prepared with "
                    "`ned analyze` and `ned render-inputs`; each video is analysed, reconstructed and conditioned "
                    "once into DIR/cache/video-<name>-<hash>/ and reused by later runs")
        ->required()
        ->check(CLI::ExistingPath);
    sub->add_option("--flame", prep->models.flame, "FLAME asset, to prepare videos (as `ned reconstruct`)");
    sub->add_option("--deca", prep->models.deca, "DECA weights, to prepare videos (without: the landmark fit)");
    sub->add_option("--fit-iters", prep->fit_iters, "Landmark fit of videos: Adam steps per chunk (0 = defaults)")
        ->check(CLI::Range(0, 1000000));
    sub->add_option("--crop-size", prep->crop_size,
                    "Face crop size of the videos prepared here (as `ned crop`): the size the renderer trains at "
                    "(prepared work folders keep their own; all must agree)")
        ->check(CLI::Range(16, 4096))
        ->capture_default_str();
    sub->add_option("--out", o->out,
                    "Output folder (created once the inputs are checked; removed again if the run "
                    "fails before it saved a state): renderer.safetensors, epoch_NN.safetensors, "
                    "state, losses.jsonl, preview/, cache/")
        ->required();
    auto no_augment = std::make_shared<bool>(false);
    add_training_options(sub, *o, *no_augment);
    add_dist_options(sub, *d);
    auto stop_after_steps = std::make_shared<int>(0);
    sub->add_option("--stop-after-steps", *stop_after_steps, "Testing: exit abruptly after N steps (simulates a kill)")
        ->group("");
    sub->footer(
        "Several processes (torchrun-style environment or srun) train data-parallel: --batch-size per rank,\n"
        "rank 0 prepares the cache and writes the outputs (DIR on a disk every rank sees); --resume works\n"
        "with another number of ranks (docs/cluster.md).\n"
        "Exit codes: 1 training diverged (non-finite loss or weights: lower --lr; the last good\n"
        "checkpoints stay); 2 bad options or work folders, --out a file or not writable, previous run in\n"
        "--out without --resume/-y; 3 missing VGG19 weights (without --no-vgg) or bad --init-from checkpoint.");
    set_inputs(sub, [o] {
        std::vector<std::pair<std::string, std::string>> in{{o->init_from, "--init-from checkpoint"},
                                                            {o->vgg, "VGG19 weights"}};
        for (const auto& a : o->actors) in.push_back({a, "actor video"});  // (folders are not declared)
        return in;
    });
    set_outputs(sub, [o] { return std::vector<std::pair<std::string, std::string>>{{o->out, "--out folder"}}; });
    set_runner(sub, [o, d, no_augment, prep, stop_after_steps, &common] {
        renderer::TrainOptions opts = *o;
        opts.augment = !*no_augment;
        run_train_renderer(std::move(opts), *d, *prep, *stop_after_steps, common);
    });
}

}  // namespace
}  // namespace ned::cli

NED_REGISTER_COMMAND(train_renderer, ned::cli::setup, 66);
