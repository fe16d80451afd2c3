; Inno Setup script: the Windows installer (setup .exe) around the frozen folder.
; Built by packaging/build.ps1:
;   ISCC.exe /DVersion=0.1.0 /DSourceDir=...\dist\optiscope /DOutputDir=...\artifacts
;            /DIconFile=...\optiscope.ico packaging\windows\optiscope.iss
; Per-user install by default (no administrator rights needed on classroom laptops), a
; Start-menu shortcut, an optional desktop shortcut, and an uninstaller.
#ifndef Version
  #define Version "0.0.0"
#endif
#ifndef SourceDir
  #define SourceDir "..\..\build\freeze\dist\optiscope"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\build\freeze\artifacts"
#endif

[Setup]
AppId={{6F1D2C7E-3B8A-4C59-9E21-0A7D5B4E8C13}
AppName=Optiscope
AppVersion={#Version}
AppPublisher=Optiscope
DefaultDirName={autopf}\Optiscope
DefaultGroupName=Optiscope
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#OutputDir}
OutputBaseFilename=optiscope-{#Version}-windows-x64-setup
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
UninstallDisplayIcon={app}\optiscope.exe
#ifdef IconFile
SetupIconFile={#IconFile}
#endif

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\Optiscope"; Filename: "{app}\optiscope.exe"; Comment: "See how optimizers and learning-rate schedules shape training"
Name: "{group}\Uninstall Optiscope"; Filename: "{uninstallexe}"
Name: "{autodesktop}\Optiscope"; Filename: "{app}\optiscope.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\optiscope.exe"; Description: "{cm:LaunchProgram,Optiscope}"; Flags: nowait postinstall skipifsilent
