Traceback (most recent call last):
  File "/tmp/diag/guard.py", line 14, in <module>
    S = settings(Path("/work/shared/data")); pool, mask = target_pool(S[name], "mpii16")
                                                                      ~^^^^^^
KeyError: 'mpii-'
