"""``autodiff.data``: datasets, loaders, splits, samplers, MNIST, downloads and progress bars.

>>> import numpy as np
>>> from autodiff.data import TensorDataset, DataLoader
>>> ds = TensorDataset(np.random.rand(100, 3).astype(np.float32), np.arange(100) % 2)
>>> len(DataLoader(ds, batch_size=32, shuffle=True, seed=0))
4
"""
from .dataset import ConcatDataset, Dataset, Subset, TensorDataset
from .distributed import DistributedSampler
from .download import ChecksumError, default_cache_dir, download, sha256_file
from .loader import DataLoader, default_collate
from .workers import WorkerInfo, get_worker_info
from .mnist import (IMAGE_MAGIC, LABEL_MAGIC, MNIST_FILES, MNIST_MEAN, MNIST_MIRRORS,
                    MNIST_SHA256, MNIST_STD, MNIST, MNISTSplit, find_mnist_dir, load_mnist,
                    mnist_split, read_idx, read_mnist_images, read_mnist_labels, write_idx)
from .paths import DatasetNotFoundError, default_data_root
from .progress import interactive, progress
from .sampler import (BatchSampler, ClassBalancedSampler, RandomSampler, Sampler,
                      SequentialSampler, WeightedRandomSampler, class_balanced_sampler)
from .split import random_split, split_indices, split_lengths, train_val_test_split

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "DataLoader",
           "default_collate", "random_split", "train_val_test_split", "split_lengths",
           "split_indices", "Sampler", "SequentialSampler", "RandomSampler", "DistributedSampler",
           "WeightedRandomSampler", "ClassBalancedSampler", "class_balanced_sampler",
           "BatchSampler", "read_idx", "read_mnist_images", "read_mnist_labels", "write_idx",
           "load_mnist", "mnist_split", "MNISTSplit", "find_mnist_dir", "MNIST_FILES",
           "MNIST_SHA256", "MNIST_MIRRORS", "MNIST_MEAN", "MNIST_STD", "LABEL_MAGIC",
           "IMAGE_MAGIC", "download", "sha256_file", "ChecksumError", "default_cache_dir",
           "progress", "interactive", "MNIST", "DatasetNotFoundError",
           "default_data_root", "WorkerInfo", "get_worker_info"]
