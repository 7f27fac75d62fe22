"""Subtle wrong answers for notebook 11: each must be caught, named, and the notebook must go on."""
NOTEBOOK = "11_multiple_instance"
WRONG = [
    dict(anchor="def max_pooling(",
         code="return ops.max(p, axis=0)",                      # pooled over the bags of the batch
         expect=["❌", "axis 0"]),
    dict(anchor="def mean_pooling(",
         code="return ops.sum(p, axis=1)",                      # forgot to divide by K
         expect=["❌", "sum over the instances"]),
    dict(anchor="class NoisyAnd(",
         code="return ops.sigmoid(self.a * (ops.mean(p, axis=1) - self.b))",   # not rescaled
         expect=["❌", "not normalised"]),
    dict(anchor="class AttentionPooling(",
         code=("e = ops.tanh(ops.matmul(h, self.V))\n"
               "if self.gated:\n"
               "    e = e * ops.sigmoid(ops.matmul(h, self.U))\n"
               "return ops.softmax(ops.squeeze(ops.matmul(e, self.w), axis=-1), axis=0)"),
         expect=["❌", "axis 0"]),
    dict(anchor="def build_mil_model(",
         code=("shape = instance_net.input_shape[1:]\n"
               "bags = keras.Input((n_instances, *shape))\n"
               "flat = ops.reshape(ops.transpose(bags, (1, 0, 2, 3, 4)), (-1, *shape))\n"
               "h = ops.reshape(instance_net(flat), (-1, n_instances, instance_net.output_shape[-1]))\n"
               "z = pooling(h)\n"
               "return keras.Model(bags, head(z) if head is not None else z)"),
         expect=["❌", "mixed"]),
]
