"""`videolights`: one command for every command line of the project.

    videolights --help                 # the commands, one line each
    videolights train --preset qvhl ...  # = python -m video_lights.train --preset qvhl ...
    videolights data check ...         # = python -m video_lights.data.check ...

Each subcommand hands the rest of its arguments to its module's main(), so its --help, its options and its exit
status are the module's (the `python -m` forms keep working). Modules are imported only when their command runs,
so `videolights --help` loads no torch.
"""
import importlib
import sys

# command -> (module whose main(argv) it runs, one line for --help)
COMMANDS = {
    "train": ("video_lights.train", "train a model (presets, resume, torchrun)"),
    "infer": ("video_lights.inference", "predict a split from a checkpoint and score it"),
    "eval": ("standalone_eval.eval", "score a submission file as the official evaluator does"),
    "extract": ("video_lights.extract", "videos and queries -> the feature folders the presets read"),
    "predict": ("video_lights.predict", "moments and saliency of your own video for your queries"),
    "export": ("video_lights.export", "a checkpoint -> a pickle-free directory (safetensors + config.json)"),
    "app": ("video_lights.app", "the web demo on your own videos"),
    "convert": ("video_lights.convert", "CSV, ActivityNet, Charades-STA, TACoS files -> QVHighlights jsonl"),
    "pretrain-data": ("video_lights.pretrain_data", "synthetic pretraining captions of your own videos (BLIP)"),
    "report": ("video_lights.domain_report", "per-domain tables of TVSum / YouTube Highlights runs"),
    "convert-slowfast": ("video_lights.features.convert_slowfast", "SlowFast .pkl weights -> .safetensors"),
    "parity": ("video_lights.features.parity", "compare extracted features with released ones"),
    "data check": ("video_lights.data.check", "validate annotations and features before training"),
    "data pack": ("video_lights.data.pack", "pack npz feature folders into HDF5"),
    "data synth": ("video_lights.data.synthetic", "generate the synthetic QVHighlights-format dataset"),
}


def usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: videolights [--version] COMMAND [ARGS ...]", "",
             "VideoLights: joint video moment retrieval and highlight detection.", "", "commands:"]
    lines += [f"  {name:<{width}}  {line}" for name, (_, line) in COMMANDS.items()]
    lines += ["", "videolights COMMAND --help shows the options of one command."]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        print(usage(), file=sys.stderr)
        return 2
    if argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] == "--version":
        from video_lights import __version__
        print(f"videolights {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name == "data" and rest and not rest[0].startswith("-"):
        name, rest = f"data {rest[0]}", rest[1:]
    if name not in COMMANDS:
        print(f"error: videolights: unknown command {name!r} (commands: {', '.join(COMMANDS)})", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    if not hasattr(module, "main"):  # a package: its __main__ holds the command line
        module = importlib.import_module(COMMANDS[name][0] + ".__main__")
    code = module.main(rest)
    return 0 if code is None else int(code)


if __name__ == "__main__":
    sys.exit(main())
