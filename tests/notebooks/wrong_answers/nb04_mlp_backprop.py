NOTEBOOK = "04_mlp_backprop"
WRONG = [
    dict(anchor="def numerical_gradient(f, x, h=1e-5):",
         code="""
         x = x.copy()                      # probes a private copy: a loss reading W never sees it
         grad = np.zeros_like(x)
         for i in np.ndindex(x.shape):
             old = x[i]
             x[i] = old + h
             f_plus = f(x)
             x[i] = old - h
             f_minus = f(x)
             x[i] = old
             grad[i] = (f_plus - f_minus) / (2 * h)
         return grad
         """,
         expect=["❌ numerical_gradient", "perturbed a copy of x"]),
]
