# Windows twin of packaging/build.sh: frozen folder, .zip, Inno Setup installer, smoke test.
#
#   pwsh packaging/build.ps1 [-ReuseVenv] [-NoInstaller] [-NoSmoke] [-InstallTest]
#
# Everything goes under $env:OPTISCOPE_BUILD_DIR (default build\freeze\): venv\, src\ (a clean
# copy of the checkout), work\, dist\optiscope\ and artifacts\ (optiscope-VERSION-windows-x64.zip
# and optiscope-VERSION-windows-x64-setup.exe). The checkout is installed NON-editable with
# the pinned PyInstaller; the build fails when PyInstaller reports a missing module of ours,
# when the bundle cannot run 'optiscope presets', or when packaging/smoke_test.py fails.
# SMOKE_REQUIRE (environment): smoke-test checks that must run, not be skipped (the release
# job sets self-test-native).
# -InstallTest installs the setup .exe silently (per user), smoke-tests the installed app and
# uninstalls it. Needs Python 3.11+ on PATH (or $env:PYTHON) and, for the installer, Inno
# Setup 6 (ISCC.exe; preinstalled on GitHub's Windows runners).
# Not run on the development machines (no Windows there): the release workflow runs it.
param(
    [switch]$ReuseVenv,
    [switch]$NoInstaller,
    [switch]$NoSmoke,
    [switch]$InstallTest
)
$ErrorActionPreference = "Stop"
Set-StrictMode -Version Latest

function Die([string]$Message) { Write-Error "build.ps1: error: $Message"; exit 1 }
function Step([string]$Message) { Write-Host ""; Write-Host "==> $Message" }
function Invoke-Checked([string]$What, [scriptblock]$Block) {
    & $Block
    if ($LASTEXITCODE -ne 0) { Die "$What failed (exit $LASTEXITCODE)" }
}

$Root = (Resolve-Path (Join-Path $PSScriptRoot "..")).Path
$Out = if ($env:OPTISCOPE_BUILD_DIR) { $env:OPTISCOPE_BUILD_DIR } else { Join-Path $Root "build\freeze" }
$Python = if ($env:PYTHON) { $env:PYTHON } else { "python" }
$Started = Get-Date

Step "clean copy of the checkout (tracked and new files, no ignored ones)"
foreach ($d in "src", "wheel", "work", "dist", "artifacts") {
    $p = Join-Path $Out $d
    if (Test-Path $p) { Remove-Item -Recurse -Force $p }
}
$Src = Join-Path $Out "src"
$Artifacts = Join-Path $Out "artifacts"
New-Item -ItemType Directory -Force -Path $Src, (Join-Path $Out "wheel"), $Artifacts | Out-Null
Push-Location $Root
$files = git ls-files --cached --others --exclude-standard
if ($LASTEXITCODE -ne 0) { Die "git ls-files failed" }
foreach ($f in $files) {
    if (-not (Test-Path -LiteralPath $f -PathType Leaf)) { continue }
    $dest = Join-Path $Src $f
    New-Item -ItemType Directory -Force -Path (Split-Path $dest) | Out-Null
    Copy-Item -LiteralPath $f -Destination $dest
}
Pop-Location

Step "build venv"
$Venv = Join-Path $Out "venv"
$Py = Join-Path $Venv "Scripts\python.exe"
if (-not $ReuseVenv -or -not (Test-Path $Py)) {
    if (Test-Path $Venv) { Remove-Item -Recurse -Force $Venv }
    Invoke-Checked "creating the venv" { & $Python -m venv $Venv }
}
$Constraints = @("-c", (Join-Path $Root "constraints.txt"), "-c", (Join-Path $Root "packaging\constraints.txt"))
Invoke-Checked "building the wheel" { & $Py -m pip wheel -q --no-deps -w (Join-Path $Out "wheel") $Src }
$Wheel = (Get-ChildItem (Join-Path $Out "wheel\optiscope-*.whl")).FullName
Invoke-Checked "installing the wheel" { & $Py -m pip install -q @Constraints --force-reinstall --no-deps $Wheel }
Invoke-Checked "installing the build tools" {
    & $Py -m pip install -q @Constraints $Wheel pyinstaller pyinstaller-hooks-contrib pillow pyyaml
}
Push-Location $Out
$Version = (& $Py -c "from importlib.metadata import version; print(version('optiscope'))").Trim()
$Origin = (& $Py -c "import optiscope.engine.cli as m; print(m.__file__)").Trim()
Pop-Location
if ($Origin -notlike "$Venv*") { Die "optiscope is not installed as regular files in the build venv ($Origin)" }

Step "icon"
$IconDir = Join-Path $Out "work\icon"
$env:QT_QPA_PLATFORM = "offscreen"
Invoke-Checked "rendering the icon" { & $Py (Join-Path $Root "packaging\render_icon.py") $IconDir }
Remove-Item Env:QT_QPA_PLATFORM
$env:OPTISCOPE_ICON_ICO = Join-Path $IconDir "optiscope-256.png"
$env:OPTISCOPE_VERSION = $Version

Step "PyInstaller"
$FreezeStarted = Get-Date
$Log = Join-Path $Out "pyinstaller.log"
Push-Location $Out
& $Py -m PyInstaller --noconfirm --clean --log-level WARN --distpath (Join-Path $Out "dist") `
    --workpath (Join-Path $Out "work\pyinstaller") (Join-Path $Root "packaging\optiscope.spec") 2>&1 |
    Tee-Object -FilePath $Log
$FreezeExit = $LASTEXITCODE
Pop-Location
if ($FreezeExit -ne 0) { Die "PyInstaller failed" }
if (Select-String -Path $Log -Pattern "Hidden import 'optiscope[^']*' not found|No module named '?optiscope") {
    Die "PyInstaller could not find modules of ours (see $Log)"
}
$Warn = Join-Path $Out "work\pyinstaller\optiscope\warn-optiscope.txt"
if (Select-String -Path $Warn -Pattern "missing module named '?optiscope") { Die "modules of ours are missing ($Warn)" }
$FreezeSeconds = [int]((Get-Date) - $FreezeStarted).TotalSeconds

$Bundle = Join-Path $Out "dist\optiscope"
$Exe = Join-Path $Bundle "optiscope.exe"
Step "the bundle imports optiscope.engine.cli"
Push-Location $env:TEMP
& $Exe presets | Out-Null
$PresetsExit = $LASTEXITCODE
Pop-Location
if ($PresetsExit -ne 0) { Die "the frozen app cannot run 'optiscope presets'" }

Step "archive"
$Zip = Join-Path $Artifacts "optiscope-$Version-windows-x64.zip"
Compress-Archive -Path $Bundle -DestinationPath $Zip -CompressionLevel Optimal

if (-not $NoInstaller) {
    Step "Inno Setup installer"
    $Iscc = (Get-Command iscc.exe -ErrorAction SilentlyContinue).Source
    if (-not $Iscc) { $Iscc = "${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe" }
    if (-not (Test-Path $Iscc)) { Die "Inno Setup 6 (ISCC.exe) is not installed" }
    $Ico = Get-ChildItem -Recurse -Filter *.ico (Join-Path $Out "work\pyinstaller") | Select-Object -First 1
    $IsccArgs = @("/Q", "/DVersion=$Version", "/DSourceDir=$Bundle", "/DOutputDir=$Artifacts")
    if ($Ico) { $IsccArgs += "/DIconFile=$($Ico.FullName)" }
    Invoke-Checked "Inno Setup" { & $Iscc @IsccArgs (Join-Path $Root "packaging\windows\optiscope.iss") }
}

$BuildSeconds = [int]((Get-Date) - $Started).TotalSeconds
$Report = @(
    "optiscope $Version, windows x64, built $((Get-Date).ToUniversalTime().ToString('s'))Z",
    "build $BuildSeconds s (PyInstaller $FreezeSeconds s)",
    "folder $([int]((Get-ChildItem -Recurse -File $Bundle | Measure-Object Length -Sum).Sum / 1MB)) MiB"
)
foreach ($f in Get-ChildItem $Artifacts -File) { $Report += "$($f.Name) $([int]($f.Length / 1MB)) MiB ($($f.Length) bytes)" }
$Report | Tee-Object -FilePath (Join-Path $Artifacts "build-report.txt")

if (-not $NoSmoke) {
    Step "smoke test (a moved copy, empty user folders)"
    Invoke-Checked "the smoke test" {
        & $Py (Join-Path $Root "packaging\smoke_test.py") --bundle $Bundle --reference $Py "--require=$env:SMOKE_REQUIRE" `
            --report (Join-Path $Artifacts "smoke-report.json") --work (Join-Path $Out "work\smoke")
    }
    if ($InstallTest -and -not $NoInstaller) {
        Step "install the setup .exe, smoke-test the installed app, uninstall"
        $Setup = (Get-ChildItem (Join-Path $Artifacts "*setup.exe")).FullName
        $Target = Join-Path $Out "work\installed"
        $p = Start-Process -Wait -PassThru $Setup -ArgumentList "/VERYSILENT", "/SUPPRESSMSGBOXES", "/NORESTART", "/CURRENTUSER", "/DIR=`"$Target`""
        if ($p.ExitCode -ne 0) { Die "the installer exited $($p.ExitCode)" }
        $Shortcut = Join-Path $env:APPDATA "Microsoft\Windows\Start Menu\Programs\Optiscope\Optiscope.lnk"
        if (-not (Test-Path $Shortcut)) { Die "no Start-menu shortcut at $Shortcut" }
        Invoke-Checked "the smoke test of the installed app" {
            & $Py (Join-Path $Root "packaging\smoke_test.py") --executable (Join-Path $Target "optiscope.exe") `
                --reference $Py "--require=$env:SMOKE_REQUIRE" --report (Join-Path $Artifacts "install-test.json") --work (Join-Path $Out "work\install-smoke")
        }
        $p = Start-Process -Wait -PassThru (Join-Path $Target "unins000.exe") -ArgumentList "/VERYSILENT", "/SUPPRESSMSGBOXES"
        if ($p.ExitCode -ne 0) { Die "the uninstaller exited $($p.ExitCode)" }
    }
}
Step "done: $Artifacts"
Get-ChildItem $Artifacts
