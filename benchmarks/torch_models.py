"""The same networks in PyTorch, with the same state-dict keys as autodiff's models, so the
benchmark can copy weights across through NumPy. Imported only when PyTorch is installed."""
from __future__ import annotations


def mnist_cnn(torch, channels=(8, 16), kernel_size: int = 5):
    nn, F = torch.nn, torch.nn.functional

    class MNISTCNN(nn.Module):
        def __init__(self):
            super().__init__()
            c1, c2 = channels
            self.conv1 = nn.Conv2d(1, c1, kernel_size, padding=kernel_size // 2)
            self.conv2 = nn.Conv2d(c1, c2, kernel_size, padding=kernel_size // 2)
            self.fc = nn.Linear(c2 * 49, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            return self.fc(x.flatten(1))
    return MNISTCNN()


def resnet_cifar(torch, depth: int = 20, shortcut: str = "A"):
    nn, F = torch.nn, torch.nn.functional
    n = (depth - 2) // 6

    class ShortcutA(nn.Module):
        def __init__(self, in_planes, planes, stride):
            super().__init__()
            self.stride, extra = stride, planes - in_planes
            self.pad = (0, 0, 0, 0, extra // 2, extra - extra // 2)

        def forward(self, x):
            return F.pad(x[:, :, ::self.stride, ::self.stride], self.pad)

    class BasicBlock(nn.Module):
        def __init__(self, in_planes, planes, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.shortcut = None
            if stride != 1 or in_planes != planes:
                self.shortcut = (ShortcutA(in_planes, planes, stride) if shortcut == "A" else
                                 nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride,
                                                         bias=False), nn.BatchNorm2d(planes)))

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return F.relu(out + (x if self.shortcut is None else self.shortcut(x)))

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(16)
            in_planes = 16
            for s, planes in enumerate((16, 32, 64)):
                blocks = []
                for b in range(n):
                    blocks.append(BasicBlock(in_planes, planes, 2 if s > 0 and b == 0 else 1))
                    in_planes = planes
                setattr(self, f"layer{s + 1}", nn.Sequential(*blocks))
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.layer3(self.layer2(self.layer1(out)))
            return self.fc(out.mean((2, 3)))
    return ResNet()


def char_rnn(torch, vocab: int, hidden: int, cell: str, embedding_dim: int):
    """Seq-first Embedding -> RNN/LSTM -> Linear, as autodiff's ``CharRNN`` with an embedding."""
    nn = torch.nn
    rnn_cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]

    class CharRNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(vocab, embedding_dim)
            self.rnn = rnn_cls(embedding_dim, hidden)
            self.decoder = nn.Linear(hidden, vocab)

        def forward(self, x, state=None):
            out, state = self.rnn(self.embedding(x), state)
            return self.decoder(out), state
    return CharRNN()
