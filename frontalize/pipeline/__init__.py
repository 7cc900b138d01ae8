"""The pipeline's steps as library calls: prepare the embedded default, train the shared recognizer, launch a
GAN run, write the identity report, run the demo.  The command-line modules (frontalize/cli) only parse
arguments and call these; each step skips work that is already done."""
