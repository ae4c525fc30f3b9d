r"""The layers' activations and their backward maps, written with the forward's
output :math:`y` (as torch does, so the input need not be kept).

=========  ===============================  ==================================
kind       :math:`y`                        :math:`\partial y / \partial x`
=========  ===============================  ==================================
relu       :math:`\max(x, 0)`               :math:`[y > 0]`
tanh       :math:`\tanh x`                  :math:`1 - y^2`
sigmoid    :math:`1 / (1 + e^{-x})`         :math:`y (1 - y)`
=========  ===============================  ==================================

Arithmetic stays in the array's dtype, as torch's kernels do. ReLU lets NaN through
(torch's behaviour); the sigmoid is evaluated as :math:`1/(1+e^{-|x|})` for
:math:`x \ge 0` and :math:`e^{-|x|}/(1+e^{-|x|})` otherwise, so no exponential
overflows.
"""

from optkit.rules import math as m
from optkit.rules._rule import elementwise


@elementwise(outputs=("y",))
def relu(x):
    r""":math:`y = \max(x, 0)`; NaN stays NaN."""
    return (m.where(x < 0, 0.0, x),)


@elementwise(outputs=("y",))
def tanh(x):
    r""":math:`y = \tanh x`."""
    return (m.tanh(x),)


@elementwise(outputs=("y",))
def sigmoid(x):
    r""":math:`y = 1 / (1 + e^{-x})`, without overflow for either sign."""
    e = m.exp(-m.abs(x))
    return (m.where(x >= 0, 1 / (1 + e), e / (1 + e)),)


@elementwise(outputs=("dx",))
def relu_backward(dy, y):
    r""":math:`dx = dy\,[y > 0]`."""
    return (m.where(y > 0, dy, 0.0),)


@elementwise(outputs=("dx",))
def tanh_backward(dy, y):
    r""":math:`dx = dy\,(1 - y^2)`."""
    return (dy * (1 - y * y),)


@elementwise(outputs=("dx",))
def sigmoid_backward(dy, y):
    r""":math:`dx = dy\,y\,(1 - y)`."""
    return (dy * (y * (1 - y)),)


#: kind -> (forward map, backward map)
ACTIVATIONS = {
    "relu": (relu, relu_backward),
    "tanh": (tanh, tanh_backward),
    "sigmoid": (sigmoid, sigmoid_backward),
}
