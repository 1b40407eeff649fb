from kura.compat.embedding import *  # noqa: F403  (Kura 0.5's import path; the code is in kura/compat)
