"""The verdict of a check under test/checks: its problems, or what it found."""


def report(check, problems, success):
    """Print the problems (or the success line) prefixed with the check's
    name; return the exit status."""
    for problem in problems:
        print("%s: %s" % (check, problem))
    if problems:
        print("%s: FAILED (%d problems)" % (check, len(problems)))
        return 1
    print("%s: %s" % (check, success))
    return 0
