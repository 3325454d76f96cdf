"""--version of ntsd and nts-query.

Proves: both print their name and the version that the top CMakeLists.txt's
project(VERSION) declares (read here from that file, not written down twice), and
exit 0 without starting anything.
"""

import os
import re
import subprocess
import unittest

from ntsd_harness import REPO_ROOT, NtsdTestCase


def project_version():
    with open(os.path.join(REPO_ROOT, "CMakeLists.txt")) as f:
        match = re.search(r"project\(ntsd VERSION ([0-9.]+)", f.read())
    assert match, "no project(ntsd VERSION ...) in CMakeLists.txt"
    return match.group(1)


class VersionTest(NtsdTestCase):
    def _version_of(self, path, name):
        self.require_file(path, name)
        res = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10,
                             stdin=subprocess.DEVNULL)
        self.assertEqual(res.returncode, 0, res.stderr)
        return res.stdout.strip()

    def test_ntsd(self):
        self.assertEqual(self._version_of(self.ntsd_bin, "ntsd"), "ntsd " + project_version())

    def test_nts_query(self):
        self.assertEqual(self._version_of(self.nts_query_bin, "nts-query"),
                         "nts-query " + project_version())


if __name__ == "__main__":
    unittest.main()
