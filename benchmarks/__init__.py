"""Side-by-side benchmarks of autodiff against PyTorch (and other installed peers).

    python -m benchmarks                    # every workload on the default backend
    python -m benchmarks --backend cupy     # on the GPU, against PyTorch CUDA
    python -m benchmarks --only mlp         # workloads whose name contains 'mlp'
"""
