NOTEBOOK = "01_perceptron_nand"
WRONG = [
    # a typo in the function's name: the check says so and the notebook goes on with the reference
    dict(anchor="def perceptron(x, w, b):", whole_cell=True,
         code="""
         def perceptorn(x, w, b):
             return 1 if np.dot(x, w) + b > 0 else 0
         """,
         expect=["⏳ perceptron", "`perceptron` is not defined"]),
    dict(anchor="def perceptron_learning(",
         code="""
         X = np.asarray(X, dtype=float)
         w, b, errors = np.zeros(X.shape[1]), 0.0, []
         for _ in range(epochs):
             wrong = 0
             for x, t in zip(X, targets):
                 y = 1 if x @ w + b > 0 else 0
                 if y != t:
                     w = w + lr * (t - y) * x      # the bias is never updated
                     wrong += 1
             errors.append(wrong)
             if wrong == 0:
                 break
         return w, b, errors
         """,
         expect=["❌ perceptron_learning", "bias never changes"]),
]
