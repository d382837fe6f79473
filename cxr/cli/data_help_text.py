"""What TFDS's parser prints for `cxr data --help` (generated: do not edit).

Written by `python -m cxr.cli.data_help` from the installed parser; `cxr.cli.data_help`
uses it only under `VERSIONS`, and tests/cli/test_data_help.py checks it.
"""

VERSIONS = {"python": "3.11", "tensorflow-datasets": "4.9.10", "simple_parsing": "0.1.9"}

HELP = """\
usage: cxr data [-h] [--helpfull] [--dataset list] [--overwrite bool]
                [--fail_if_exists bool] [--max_examples_per_split [int]]
                [--data_dir Path] [--download_dir [Path]]
                [--extract_dir [Path]] [--manual_dir [Path]]
                [--add_name_to_manual_dir bool] [--download_only bool]
                [-c [str]] [--config_idx [int]] [--update_metadata_only bool]
                [--download_config [str]] [-i [str]]
                [--register_checksums bool]
                [--force_checksums_validation bool]
                [--beam_pipeline_options [str]]
                [--file_format {tfrecord,riegeli,array_record,parquet}]
                [--max_shard_size_mb [int]] [--num_shards [int]]
                [--num-processes int] [--nondeterministic_order bool]
                [--publish_dir [Path]] [--skip_if_published bool]
                [--exclude_datasets [str]]
                [--experimental_latest_version bool]
                datasets

tfds build for cxr14_subset

options:
  -h, --help            show this help message and exit
  --helpfull            show full help message and exit

Args ['args']:
  Commands for downloading and preparing datasets.

  datasets              Name(s) of the dataset(s) to build. Default to current
                        dir. See https://www.tensorflow.org/datasets/cli for
                        accepted values. (default: [])
  --dataset list, --datasets list
                        Datasets can also be provided as keyword argument.
                        (default: [])

DebugOptions ['args.debug']:
  Debug & tests options. Use --pdb to enter post-mortem debugging mode if an
  exception is raised.

  --overwrite bool, --nooverwrite bool
                        If True, delete pre-existing dataset if it exists.
                        (default: False)
  --fail_if_exists bool, --nofail_if_exists bool
                        If True, fails the program if there is a pre-existing
                        dataset. (default: False)
  --max_examples_per_split [int]
                        When set, only generate the first X examples (default
                        to 1), rather than the full dataset. If set to 0, only
                        execute the `_split_generators` (which download the
                        original data), but skip `_generator_examples`.
                        (default: None)

PathOptions ['args.paths']:
  Path options.
  

  --data_dir Path       Where to place datasets. Defaults to
                        `~/tensorflow_datasets/` or `TFDS_DATA_DIR`
                        environement variable. (default:
                        /root/tensorflow_datasets)
  --download_dir [Path]
                        Where to place downloads. Defaults to
                        `<data_dir>/downloads/`. (default: None)
  --extract_dir [Path]  Where to extract files. Defaults to
                        `<download_dir>/extracted/`. (default: None)
  --manual_dir [Path]   Where to manually download data (required for some
                        datasets). Defaults to `<download_dir>/manual/`.
                        (default: None)
  --add_name_to_manual_dir bool, --noadd_name_to_manual_dir bool
                        If true, append the dataset name to the `manual_dir`
                        (e.g. `<download_dir>/manual/<dataset_name>/`). Useful
                        to avoid collisions if many datasets are generated.
                        (default: False)

GenerationOptions ['args.generation']:
  Generation options.
  

  --download_only bool, --nodownload_only bool
                        If True, download all files but do not prepare the
                        dataset. Uses the checksum.tsv to find out what to
                        download. Therefore, this does not work in combination
                        with --register_checksums. (default: False)
  -c [str], --config [str]
                        Config name to build. Build all configs if not set.
                        Can also be a json of the kwargs forwarded to the
                        config `__init__` (for custom configs). (default:
                        None)
  --config_idx [int], --builder_config_id [int]
                        Config id to build
                        (`builder_cls.BUILDER_CONFIGS[config_idx]`). Mutually
                        exclusive with `--config`. We are forced to have 2
                        flags to avoid ambiguity when `config` is a number
                        (e.g. `voc/2017`). (default: None)
  --update_metadata_only bool, --noupdate_metadata_only bool
                        If True, existing dataset_info.json is updated with
                        metadata defined in Builder class(es). Datasets must
                        already have been prepared. (default: False)
  --download_config [str]
                        A json of the kwargs forwarded to the config
                        `__init__` (for custom DownloadConfigs). (default:
                        None)
  -i [str], --imports [str], --module_import [str]
                        Comma separated list of module to import to register
                        datasets. (default: None)
  --register_checksums bool, --noregister_checksums bool
                        If True, store size and checksum of downloaded files.
                        (default: False)
  --force_checksums_validation bool, --noforce_checksums_validation bool
                        If True, raise an error if the checksums are not
                        found. Otherwise, bypass the checks on the checksums
                        (default: False)
  --beam_pipeline_options [str]
                        A (comma-separated) list of flags to pass to
                        `PipelineOptions` when preparing with Apache Beam.
                        (see:
                        https://www.tensorflow.org/datasets/beam_datasets).
                        Example: `--beam_pipeline_options=job_name=my-
                        job,project=my-project` (default: None)
  --file_format {tfrecord,riegeli,array_record,parquet}
                        File format to which generate the tf-examples.
                        (default: None)
  --max_shard_size_mb [int]
                        The max shard size in megabytes. (default: None)
  --num_shards [int]    The number of shards to write to. (default: None)
  --num-processes int, --num_processes int
                        Number of parallel build processes. (default: 1)
  --nondeterministic_order bool, --nonondeterministic_order bool
                        If True, it will not assure deterministic ordering
                        when writing examples to disk. This might result in
                        quicker dataset preparation. Otherwise, it will assure
                        deterministic ordering when writing examples to disk
                        (default: False)

PublishingOptions ['args.publishing']:
  Publishing options.
  

  --publish_dir [Path]  Where to optionally publish the dataset after it has
                        been generated successfully. Should be the root data
                        dir under which datasets are stored. If unspecified,
                        dataset will not be published. (default: None)
  --skip_if_published bool, --noskip_if_published bool
                        If the dataset with the same version and config is
                        already published, then it will not be regenerated.
                        (default: False)

AutomationOptions ['args.automation']:
  Automation options.
  

  --exclude_datasets [str]
                        If set, generate all datasets except the one defined
                        here. Comma separated list of datasets to exclude.
                        (default: None)
  --experimental_latest_version bool, --noexperimental_latest_version bool
                        Build the latest Version(experiments=...) available
                        rather than default version. (default: False)
"""
