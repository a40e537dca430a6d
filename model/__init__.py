"""attnflow's model: a small, fully instrumented transformer language model in plain PyTorch.

Nothing here imports the web app. Each module is one thing you can point to on the diagram:
config, attention, feed_forward, block, transformer, tracing, tokenizer, data, training,
ablation, checkpoint.
"""
